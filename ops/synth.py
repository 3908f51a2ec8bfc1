"""Synthetic areas (being written)."""
