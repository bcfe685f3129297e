#!/usr/bin/env python3
"""The soak's long form, by hand: 16 ranks exchange MESSAGES point-to-point messages (and
thousands of collectives) on each transport, every byte and MPI's ordering checked by
`crates/rmpi/examples/soak.rs`. Writes benches/results/soak.json, from which
benches/page.py writes the "Soak" part of BENCHMARKS.md.

    python3 benches/soak.py [--messages 100000] [--ranks 16] [--seed 1]
"""

import argparse
import datetime
import json
import os
import re
import subprocess

import compare

ROOT = compare.ROOT

LINE = re.compile(r"soak: (\d+) messages \(([\d.]+) MiB\) and (\d+) collectives per rank in "
                  r"(\d+) rounds on (\d+) ranks, ([\d.]+) s; peak memory per rank "
                  r"([\d.]+)-([\d.]+) MiB \(median ([\d.]+)\)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--ranks", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    compare.run(["cargo", "build", "--release", "-q", "-p", "rmpi-launch", "-p", "rmpi",
                 "--example", "soak"])
    runs = {}
    for transport in ["shm", "tcp"]:
        out = compare.run([os.path.join(compare.RELEASE, "rmpirun"), "-n", str(args.ranks),
                           "--transport", transport, "--timeout", "3600",
                           os.path.join(compare.RELEASE, "examples", "soak"),
                           str(args.messages), str(args.seed)])
        found = LINE.search(out)
        if not found:
            raise SystemExit(f"no summary from the soak on {transport}:\n{out}")
        fields = found.groups()
        runs[transport] = {
            "messages": int(fields[0]), "mib": float(fields[1]),
            "collectives_per_rank": int(fields[2]), "rounds": int(fields[3]),
            "ranks": int(fields[4]), "seconds": float(fields[5]),
            "peak_mib": {"min": float(fields[6]), "max": float(fields[7]),
                         "median": float(fields[8])},
        }
        compare.log(f"{transport}: {found.group(0)}")
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    record = {"measured": datetime.date.today().isoformat(), "commit": commit,
              "command": f"python3 benches/soak.py --messages {args.messages} --ranks "
                         f"{args.ranks} --seed {args.seed}",
              "runs": runs}
    path = os.path.join(compare.RESULTS, "soak.json")
    with open(path, "w") as f:
        json.dump(record, f, indent=1)
    print("wrote", path)


if __name__ == "__main__":
    main()
