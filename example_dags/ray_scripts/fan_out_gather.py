"""A small Ray program: fan work out to remote tasks, gather the results, print them."""

import argparse
import os
import socket
import time


def measure(word: str) -> dict:
    # Each task runs in a Ray worker process; report which one, to show the fan-out.
    time.sleep(0.2)
    return {"word": word, "letters": len(word), "worker_pid": os.getpid()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--words", default="ray airflow kuberay kubernetes deferral triggerer")
    args = parser.parse_args()
    import ray  # this program runs on the Ray cluster, not in Airflow

    ray.init()  # inside a Ray job this joins the cluster the job runs on
    remote_measure = ray.remote(measure)
    words = args.words.split()
    print(f"fanning out {len(words)} tasks on {socket.gethostname()}", flush=True)
    results = ray.get([remote_measure.remote(word) for word in words])
    for result in results:
        print(f"  {result['word']:<12} {result['letters']:>2} letters (worker pid {result['worker_pid']})", flush=True)
    print(f"total letters: {sum(r['letters'] for r in results)}", flush=True)
    print(f"distinct workers used: {len({r['worker_pid'] for r in results})}", flush=True)
    print(f"run: {os.environ.get('DEMO_RUN_ID', '?')}", flush=True)


if __name__ == "__main__":
    main()
