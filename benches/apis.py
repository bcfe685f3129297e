#!/usr/bin/env python3
"""The blocking API beside the async one: ping-pong latency (`rmpi-bench latency`, typed
buffers) through `rmpi::blocking` and through `rmpi::run`, the two taking turns, on each
transport. Writes benches/results/apis.json, from which benches/page.py writes the
"Blocking and async API" part of BENCHMARKS.md.

    python3 benches/apis.py [--rounds 7]
"""

import argparse
import datetime
import json
import os
import subprocess

import compare

SIZES = [8, 4096, 1 << 20]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    compare.run(["cargo", "build", "--release", "-q", "-p", "rmpi-launch", "-p", "rmpi-bench"])
    runs = {}
    for transport in ["shm", "tcp"]:
        tables = {"async": [], "blocking": []}
        for _ in range(args.rounds):
            for api in tables:
                command = [os.path.join(compare.RELEASE, "rmpirun"), "-n", "2", "--transport",
                           transport, "--no-tag-output",
                           os.path.join(compare.RELEASE, "rmpi-bench"), "latency",
                           "--min-size", str(SIZES[0]), "--max-size", str(SIZES[-1]),
                           "--api", api]
                table = compare.table(compare.run(command, f"{transport} {api}"))
                tables[api].append({size: table[size] for size in SIZES})
        runs[transport] = {
            api: {str(size): sorted(t[size] for t in measured) for size in SIZES}
            for api, measured in tables.items()
        }
    commit = subprocess.run(["git", "-C", compare.ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    record = {"measured": datetime.date.today().isoformat(), "commit": commit,
              "command": f"python3 benches/apis.py --rounds {args.rounds}", "runs": runs}
    path = os.path.join(compare.RESULTS, "apis.json")
    with open(path, "w") as f:
        json.dump(record, f, indent=1)
    print("wrote", path)


if __name__ == "__main__":
    main()
