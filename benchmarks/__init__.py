"""Benchmarks: xRM against hand-written SQL on the same database, in the same run.

``python -m benchmarks core`` runs the core suite (see ``docs/benchmarks.md``).
"""
