"""Feeds: census and CTF XML, CSV service feeds; minimise, validate, stage (issue: ingest)."""
