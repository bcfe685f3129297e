#!/usr/bin/env python3
"""rmpi now beside rmpi at an earlier commit, and beside MPICH and Open MPI, in one run.

Builds the earlier commit's `rmpi-bench` and `rmpirun` in a git worktree of its own, then
runs the tests a change of rmpi's insides must not slow down, the systems taking turns in
each round (rmpi before, rmpi now, then the MPI each test is judged against): shared-memory
ping-pong latency at 8 B - 1 MiB and the 2-rank broadcast of small messages against MPICH,
windowed bandwidth at 1-64 B (message rate) against MPICH, and 4- and 8-rank bcast and
allreduce at 64 KiB and 1 MiB against Open MPI (which yields its core when idle, as rmpi
does; MPICH spins when ranks outnumber cores). Writes benches/results/before-after.json and
.md, from which benches/page.py writes the "Before and after" part of BENCHMARKS.md.

    python3 benches/before_after.py --before 4e21911 [--rounds 5]
"""

import argparse
import json
import os
import statistics
import subprocess
import time

import compare
import page

ROOT = compare.ROOT

# (test, ranks, max size, sizes shown, the MPI it is judged against)
TESTS = [
    ("latency", 2, 1 << 20, [8, 4096, 1 << 20], "MPICH"),
    ("bw", 2, 64, [1, 8, 32, 64], "MPICH"),
    ("bcast", 2, 2048, [4, 64, 2048], "MPICH"),
    ("bcast", 4, 1 << 20, [65536, 1 << 20], "Open MPI"),
    ("allreduce", 4, 1 << 20, [65536, 1 << 20], "Open MPI"),
    ("bcast", 8, 1 << 20, [65536, 1 << 20], "Open MPI"),
    ("allreduce", 8, 1 << 20, [65536, 1 << 20], "Open MPI"),
]


def build_before(commit):
    """The earlier commit's release binaries, built in a worktree under target/."""
    tree = os.path.join(ROOT, "target", "before-" + commit)
    if not os.path.exists(tree):
        compare.run(["git", "-C", ROOT, "worktree", "add", "--detach", tree, commit])
    compare.run(["cargo", "build", "--release", "-q", "--manifest-path",
                 os.path.join(tree, "Cargo.toml"), "-p", "rmpi-bench", "-p", "rmpi-launch"])
    return os.path.join(tree, "target", "release")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="the earlier commit")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    before_dir = build_before(args.before)
    mpi_list = compare.mpis()
    binaries = compare.build(mpi_list)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    before_name, now_name = f"rmpi {args.before}", f"rmpi {commit}"
    sections, plans = [], []
    for test, ranks, max_size, sizes, judge in TESTS:
        systems = [(before_name, before_dir), (now_name, compare.RELEASE)]
        if judge in binaries:
            systems.append((judge, None))
        section = {"test": test, "ranks": ranks, "judge": judge, "sizes": sizes,
                   "unit": "MB/s" if test == "bw" else "us",
                   "rounds": {name: [] for name, _ in systems}}
        sections.append(section)
        plans.append((test, ranks, max_size, sizes, judge, systems, section))
    # Every test in every round, so that a spell of this machine running slow falls on all
    # tests alike rather than on one; within a test the systems run back to back.
    for _ in range(args.rounds):
        for test, ranks, max_size, sizes, judge, systems, section in plans:
            for name, release in systems:
                system = "rmpi shm" if release else judge
                # Small broadcasts are quick: more calls steady them.
                iterations = {"latency": None, "bw": None}.get(test, 10000 if max_size <= 2048 else 100)
                figures = compare.measure(system, binaries, test, ranks, max_size, iterations,
                                          release or compare.RELEASE)
                section["rounds"][name].append({str(s): figures[s] for s in sizes if s in figures})
        write(sections, before_name, now_name)
    print(open(os.path.join(compare.RESULTS, "before-after.md")).read())
    compare.log(f"wrote {page.write_page()}")


def write(sections, before_name, now_name):
    data = {"measured": time.strftime("%Y-%m-%d"), "before": before_name, "now": now_name,
            "sections": sections}
    with open(os.path.join(compare.RESULTS, "before-after.json"), "w") as f:
        json.dump(data, f, indent=1)
    with open(os.path.join(compare.RESULTS, "before-after.md"), "w") as f:
        f.write("\n".join(page.before_after_table(data)) + "\n")


if __name__ == "__main__":
    main()
