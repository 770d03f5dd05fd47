"""
The version matrix: each cell is an environment (Python, Airflow and its ecosystem, the Ray of the head)
built from the project's own files into a git-ignored folder, plus the pytest selection run in it.
``python -m devtools.matrix`` runs the cells one after another and writes ``tests/MATRIX.md``.
"""
