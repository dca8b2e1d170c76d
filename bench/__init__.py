"""Benchmarks, run on demand (see README: Benchmarks)."""
