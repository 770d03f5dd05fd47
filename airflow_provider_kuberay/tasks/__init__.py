"""
What every task of the provider (operators, sensors, decorators) shares, in one place:

- ``identity``: the task instance as deterministic names, submission ids and ownership labels;
- ``adoption``: retry-safe create-or-adopt and delete-only-what-is-ours;
- ``deferral``: deferring to a trigger or running it in the worker, deadlines, deferral timeouts;
- ``inputs``: checks of rendered parameters, each error naming the parameter;
- ``failure``: the task failure (message and error type) a trigger event means.

Each module imports nothing heavy at its top: they load at DAG-parse time.
"""
