"""Benchmarks of the provider (``make bench``): parse cost, job overhead, log latency, triggerer scale."""
