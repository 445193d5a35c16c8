"""Benchmarks (run as modules: python -m benchmarks.ocr_quality)."""
