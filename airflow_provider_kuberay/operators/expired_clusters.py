"""Delete the RayClusters this provider made whose expiry has passed and whose DAG run has ended."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_kuberay.tasks.cluster_lifecycle import MANAGED_BY_LABEL
from airflow_provider_kuberay.tasks.identity import MANAGED_BY

if TYPE_CHECKING:
    from airflow.sdk import Context

# DAG run states in which the run may still use its cluster.
_ACTIVE_RUN_STATES = frozenset({"queued", "running"})


class KubeRayDeleteExpiredClustersOperator(BaseOperator):
    """
    Delete, in one namespace, every RayCluster that this provider created with an expiry
    (``KubeRayCreateClusterOperator(cluster_ttl=...)``), once the expiry has passed and the DAG run
    that created or last reused it has ended. Schedule it (e.g. hourly) to collect clusters that
    runs leaked. A cluster without the provider's managed-by label or without an expiry is never
    touched; neither is one whose run is still queued or running, or whose run's state cannot be
    read (it is tried again on the next run of this task). The run's state comes from Airflow's
    execution API through the Task SDK (``ti.get_dagrun_state``); a run that no longer exists
    counts as ended.

    XCom (return value): the names of the clusters it asked to delete.

    :param namespace: namespace; the connection's by default (templated).
    :param kuberay_conn_id: id of a ``kuberay`` connection.
    :param wait_for_deletion: wait until each deleted cluster is gone.
    :param timeout_seconds: how long to wait for one cluster to go.
    """

    template_fields: Sequence[str] = ("namespace",)

    def __init__(
        self,
        *,
        namespace: str | None = None,
        kuberay_conn_id: str = "kuberay_default",
        wait_for_deletion: bool = False,
        timeout_seconds: float = 600.0,
        **kwargs: Any,
    ) -> None:
        from airflow_provider_kuberay.tasks.inputs import check_positive

        super().__init__(**kwargs)
        check_positive("timeout_seconds", timeout_seconds)
        self.namespace = namespace
        self.kuberay_conn_id = kuberay_conn_id
        self.wait_for_deletion = wait_for_deletion
        self.timeout_seconds = timeout_seconds

    def execute(self, context: Context) -> list[str]:
        from airflow_provider_kuberay.hooks.kuberay import KubeRayHook
        from airflow_provider_kuberay.tasks import inputs
        from airflow_provider_kuberay.tasks.cluster_lifecycle import provider_made

        inputs.namespace(self.namespace)
        hook = KubeRayHook(self.kuberay_conn_id)
        hook.check_connection()
        namespace = hook.namespace_or_default(self.namespace)
        now = datetime.now(timezone.utc)
        clusters = hook.list_objects("RayCluster", namespace, label_selector=f"{MANAGED_BY_LABEL}={MANAGED_BY}")
        # The selector is the API server's filter; the label is checked here again so that nothing
        # else is ever deleted, whatever a proxy or an old server did with the selector.
        expired = [c for c in clusters if provider_made(c) and self._expired(c, now, context)]
        deleted = []
        for cluster in expired:
            name = cluster["metadata"]["name"]
            if hook.delete_object("RayCluster", name, namespace):
                self.log.info("Deleted expired RayCluster %s/%s", namespace, name)
                deleted.append(name)
        if self.wait_for_deletion:
            for name in deleted:
                hook.wait_until_deleted("RayCluster", name, namespace, timeout=self.timeout_seconds)
        self.log.info("%d of %d provider-made RayClusters in %s deleted", len(deleted), len(clusters), namespace)
        return deleted

    def _expired(self, cluster: dict[str, Any], now: datetime, context: Context) -> bool:
        from airflow_provider_kuberay.tasks.cluster_lifecycle import expires_at, last_run

        name = cluster["metadata"]["name"]
        if cluster["metadata"].get("deletionTimestamp"):
            return False
        try:
            expiry = expires_at(cluster)
        except ValueError as err:
            self.log.warning("RayCluster %s kept: its expiry annotation does not parse (%s)", name, err)
            return False
        if expiry is None or expiry > now:
            return False
        run = last_run(cluster)
        if run is None:
            return True
        state = self._run_state(context, *run)
        if state is None or state in _ACTIVE_RUN_STATES:
            self.log.info("RayCluster %s expired but kept: DAG run %s/%s is %s", name, *run, state or "unknown")
            return False
        return True

    def _run_state(self, context: Context, dag_id: str, run_id: str) -> str | None:
        """The DAG run's state through the Task SDK; ``"absent"`` if it no longer exists, ``None`` if unknown."""
        try:
            state = context["ti"].get_dagrun_state(dag_id, run_id)
            return str(getattr(state, "value", state))  # a str Enum in the Task SDK
        except Exception as err:
            if _not_found(err):
                return "absent"
            self.log.warning("Could not read the state of DAG run %s/%s: %s", dag_id, run_id, err)
            return None


def _not_found(err: Exception) -> bool:
    """
    Whether the execution API answered 404 (no such DAG run). A supervised task gets the answer as
    an ``AirflowRuntimeError`` whose detail holds the status; ``dag.test()`` raises the client's
    ``ServerResponseError``, an ``httpx`` error with the response.
    """
    detail = getattr(getattr(err, "error", None), "detail", None)
    if isinstance(detail, dict) and detail.get("status_code") == 404:
        return True
    return getattr(getattr(err, "response", None), "status_code", None) == 404
