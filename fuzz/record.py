#!/usr/bin/env python3
"""Records a long fuzz run for BENCHMARKS.md: reads what `fuzz/run.sh SECONDS` printed and
writes benches/results/fuzz.json, from which benches/page.py writes the "Fuzzing" part.

    fuzz/run.sh 600 2>&1 | tee /tmp/fuzz.log && python3 fuzz/record.py /tmp/fuzz.log
"""

import datetime
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse(text):
    """Per target: seconds, inputs run, inputs that found new coverage, and the outcome."""
    targets, current = {}, None
    for line in text.splitlines():
        started = re.match(r"== (\w+): (\d+)s", line)
        if started:
            current = started.group(1)
            targets[current] = {"seconds": int(started.group(2)), "outcome": "no failure"}
        elif current and line.startswith("stat::number_of_executed_units:"):
            targets[current]["inputs"] = int(line.split(":")[-1])
        elif current and line.startswith("stat::new_units_added:"):
            targets[current]["new_coverage"] = int(line.split(":")[-1])
        elif current and ("SUMMARY" in line or "failing inputs" in line):
            targets[current]["outcome"] = line.strip()
    return targets


def main():
    with open(sys.argv[1]) as f:
        targets = parse(f.read())
    seconds = max((t["seconds"] for t in targets.values()), default=0)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    record = {
        "measured": datetime.date.today().isoformat(),
        "commit": commit,
        "command": f"fuzz/run.sh {seconds}",
        "targets": targets,
    }
    path = os.path.join(ROOT, "benches", "results", "fuzz.json")
    with open(path, "w") as f:
        json.dump(record, f, indent=1)
    print("wrote", path)


if __name__ == "__main__":
    main()
