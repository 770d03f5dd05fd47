# The version matrix (included by the Makefile): every cell, or CELLS=a,b; see devtools/matrix/cells.py.
.PHONY: test-matrix

## Every supported-version cell in its own venv under .matrix/; prints the table and writes tests/MATRIX.md.
test-matrix: bootstrap
	$(UV_RUN) python -m devtools.matrix --write tests/MATRIX.md $(if $(CELLS),--cells $(CELLS))
