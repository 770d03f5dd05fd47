"""
A Ray job that prints numbered lines at a steady pace, so a test can check none is lost or repeated;
then, if asked, it waits for a release file, so a test decides when the job ends (the Ray head runs
on the test's machine). With ``--release-after N`` it waits before line N instead: the job is quiet
mid-way until the test releases it.
"""

import argparse
import os
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--lines", type=int, required=True)
parser.add_argument("--interval", type=float, required=True)
parser.add_argument("--release-file", default="")
parser.add_argument("--release-timeout", type=float, default=300.0)
parser.add_argument("--release-after", type=int, default=-1, help="lines before the wait (-1: all of them)")
args = parser.parse_args()


def wait_for_release() -> None:
    deadline = time.monotonic() + args.release_timeout
    while not os.path.exists(args.release_file):
        if time.monotonic() > deadline:
            sys.exit(f"no release file {args.release_file} after {args.release_timeout:.0f}s")
        time.sleep(0.2)


release_after = args.lines if args.release_after < 0 else args.release_after
for number in range(args.lines):
    if args.release_file and number == release_after:
        wait_for_release()
    print(f"deploy-line {number:03d}/{args.lines:03d}", flush=True)
    time.sleep(args.interval)
if args.release_file and release_after >= args.lines:
    wait_for_release()
print("deploy-job done", flush=True)
