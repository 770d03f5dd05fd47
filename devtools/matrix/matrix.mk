# The version matrix (included by the Makefile): every cell, or CELLS=a,b; see devtools/matrix/cells.py.
.PHONY: test-matrix test-matrix-prepare

## Every supported-version cell in its own venv under .matrix/; prints the table and writes tests/MATRIX.md.
test-matrix: bootstrap
	$(UV_RUN) python -m devtools.matrix --write tests/MATRIX.md $(if $(CELLS),--cells $(CELLS))

## Only build what the cells run in (venvs, KubeRay operators), for a later test-matrix: .ci/run starts it
## at the lowest CPU priority beside `make test`.
test-matrix-prepare: bootstrap
	$(UV_RUN) python -m devtools.matrix --prepare $(if $(CELLS),--cells $(CELLS))
