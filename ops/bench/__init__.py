"""Benchmarks behind `childindex bench ...`: each prints its figures with the machine it ran on."""
