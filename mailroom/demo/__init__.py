"""Synthetic German letters for the demo, the tests and the benchmarks (product code)."""
