"""Benchmarks of Medibot against the raw driver, side by side (``python -m bench [--quick]``).

Never run as tests: see BENCHMARKS.md for the results and bench/runner.py for what is measured.
"""
