"""The soak: a whole Parley deployment on loopback, a mixed load, faults, and checks.

``scripts/soak [--minutes N] [--quick]``; see docs/operations.md ("The soak").
"""
