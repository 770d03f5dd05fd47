"""
The shape of astro-provider-ray's TaskFlow example on an existing cluster, on this provider: an
upstream task makes data, a Ray function squares it on the cluster and returns the mean, which is
the task's XCom. Moving such a DAG over changes only the imports, the decorator and its parameters;
the Ray code inside the function stays as it is.

Needs a ``ray_dashboard`` connection ``ray_conn`` whose host is the cluster's dashboard URL.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

CONN_ID = "ray_conn"


@dag(dag_id="migrated_ray_taskflow", start_date=datetime(2025, 1, 1), schedule=None, catchup=False, tags=["ray"])
def migrated_ray_taskflow():
    @task
    def generate_data() -> list[int]:
        return [1, 2, 3]

    # astro-provider-ray: @ray.task(config={"conn_id": CONN_ID, "num_cpus": 1, "poll_interval": 5})
    @task.ray(ray_dashboard_conn_id=CONN_ID, entrypoint_num_cpus=1, poll_interval=5)
    def mean_of_squares(data: list[int]) -> float:
        import ray

        ray.init()

        @ray.remote
        def square(value: int) -> int:
            return value * value

        squares = ray.get([square.remote(value) for value in data])
        mean = sum(squares) / len(squares)
        print(f"mean of the squares: {mean}")
        return mean

    mean_of_squares(generate_data())


migrated_ray_taskflow()
