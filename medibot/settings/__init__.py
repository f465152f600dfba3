"""Settings package: base.py reads the environment; local/test/production adjust it."""
