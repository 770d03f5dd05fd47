"""Helpers for the real-Airflow tier: parse DAG files like the DAG processor, read runs back."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_dag(path: Path, dag_id: str) -> Any:
    """Parse the file like the DAG processor does (a fresh parse, so operators read today's config)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow < 3.2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    bag = DagBag(dag_folder=str(path))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(dag_id)
    assert dag is not None, f"{dag_id} not found in {path}"
    return dag


def task_states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def xcom(dag_run: Any, task_id: str, key: str) -> Any:
    """An XCom of a finished run, read from the metadata database."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    query = XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key=key)
    with create_session() as session:
        row = session.execute(query).scalars().first()
        return XComModel.deserialize_value(row) if row is not None else None
