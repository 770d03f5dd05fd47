"""The Specs and Status layers stay cheap to import at DAG-parse time."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("airflow", "kubernetes", "kubernetes_asyncio", "ray", "aiohttp", "requests", "jsonschema")


def test_specs_and_status_import_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "import airflow_provider_kuberay.specs, airflow_provider_kuberay.status.cluster, "
        "airflow_provider_kuberay.status.job, airflow_provider_kuberay.status.service\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
