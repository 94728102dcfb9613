"""Benchmarks (scripts, not tests): ``python -m bench.ingest``."""
