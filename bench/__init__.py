"""Benchmarks (scripts, not tests): ``python -m bench`` runs them all, ``python -m bench.ingest`` one."""
