"""Look for secrets everywhere a finished DAG run leaves text: logs, XComs, rendered fields, files."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 50 * 2**20


def run_places(dag_run: Any) -> dict[str, str]:
    """Every XCom value and every task's rendered template fields of a run, as text, by place."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    places: dict[str, str] = {}
    with create_session() as session:
        xcoms = session.execute(
            select(XComModel).where(XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id)
        ).scalars()
        for row in xcoms:
            places[f"xcom {row.task_id}.{row.key}"] = json.dumps(row.value, default=str)
        rendered = session.execute(
            select(RenderedTaskInstanceFields).where(
                RenderedTaskInstanceFields.dag_id == dag_run.dag_id,
                RenderedTaskInstanceFields.run_id == dag_run.run_id,
            )
        ).scalars()
        for rtif in rendered:
            places[f"rendered fields {rtif.task_id}"] = json.dumps(rtif.rendered_fields, default=str)
    return places


def file_places(roots: Iterable[Path], since: float) -> dict[str, str]:
    """Every file under ``roots`` written at or after ``since`` (Unix time), as text, by path."""
    places: dict[str, str] = {}
    for root in roots:
        for folder, _, names in os.walk(root):
            for name in names:
                path = Path(folder, name)
                try:
                    info = path.lstat()
                    if not path.is_file() or path.is_symlink() or info.st_mtime < since:
                        continue
                    if info.st_size > MAX_FILE_BYTES:
                        continue
                    places[f"file {path}"] = path.read_bytes().decode("latin-1")
                except OSError:
                    continue  # vanished or unreadable (another process's socket, a lock)
    return places


def default_roots() -> list[Path]:
    """The Airflow home and the temporary directory."""
    return [Path(os.environ["AIRFLOW_HOME"]), Path(tempfile.gettempdir())]


def leaks(places: Mapping[str, str], secrets: Mapping[str, str]) -> list[str]:
    """``"<secret name> in <place>"`` for every secret found in a place."""
    return [f"{name} in {place}" for place, text in places.items() for name, value in secrets.items() if value in text]
