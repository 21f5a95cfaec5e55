"""Benchmarks: `make bench` (`python -m bench`) measures each figure beside its baseline on this machine and prints
a table of medians and ratios. Never part of `make test`; no test asserts a timing."""
