## Benchmarks (parse cost, job overhead, log latency, triggerer scale): prints one table and
## writes benchmarks/RESULTS.md. Starts and stops its own local Ray heads and control plane.
.PHONY: bench
bench: bootstrap k8s-prepare
	$(UV_RUN) python -m benchmarks
