"""A Ray job that prints numbered lines at a steady pace, so a test can check none is lost or repeated."""

import argparse
import time

parser = argparse.ArgumentParser()
parser.add_argument("--lines", type=int, required=True)
parser.add_argument("--interval", type=float, required=True)
args = parser.parse_args()
for number in range(args.lines):
    print(f"deploy-line {number:03d}/{args.lines:03d}", flush=True)
    time.sleep(args.interval)
print("deploy-job done", flush=True)
