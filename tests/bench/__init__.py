"""Benchmarks for genesyscloud-poller: `python -m tests.bench [--quick] [--only NAME]`.

Not collected by pytest (norecursedirs); see README.md in this directory.
"""
