"""Benchmarks of otel-xray against its peers (run ``python benchmarks/run.py``)."""
