#!/usr/bin/env python3
"""Runs rmpi and the MPI implementations installed here side by side, with one method.

rmpi runs `rmpi-bench` under `rmpirun` on each transport; each MPI runs `benches/c/osu_like.c`
built with its own compiler wrapper and started with its own launcher. Systems take turns
test by test, so a change in the machine's load hits all of them alike. Output: markdown
tables of the figures and of rmpi's ratio to MPICH, for BENCHMARKS.md.

    python3 benches/compare.py [--quick] > /tmp/figures.md
"""

import argparse
import os
import platform
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")


def log(message):
    print(message, file=sys.stderr, flush=True)


def run(command, env=None):
    log("$ " + " ".join(command))
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800, env=env)
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def table(output):
    """{size: value} from OSU's table format (tags and comments ignored)."""
    figures = {}
    for line in output.splitlines():
        line = line.split("] ", 1)[-1].strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        figures[int(fields[0])] = float(fields[1])
    return figures


def mpis():
    """(name, compiler, launcher prefix) for each MPI installed."""
    found = []
    for name, cc, launcher in [
        ("MPICH", "mpicc.mpich", ["mpiexec.mpich"]),
        ("Open MPI", "mpicc.openmpi", ["mpirun.openmpi", "--oversubscribe", "--allow-run-as-root"]),
    ]:
        if shutil.which(cc) and shutil.which(launcher[0]):
            found.append((name, cc, launcher))
    return found


def build(mpi_list):
    run(["cargo", "build", "--release", "-q", "-p", "rmpi-bench", "-p", "rmpi-launch"])
    binaries = {}
    for name, cc, launcher in mpi_list:
        out = os.path.join(RELEASE, "osu_like-" + name.replace(" ", "").lower())
        run([cc, "-O2", "-Wno-stringop-overflow", "-o", out, os.path.join(ROOT, "benches/c/osu_like.c")])
        binaries[name] = (out, launcher)
    return binaries


def measure(system, binaries, test, ranks, max_size, iterations):
    if system.startswith("rmpi"):
        transport = system.split()[1]
        command = [os.path.join(RELEASE, "rmpirun"), "-n", str(ranks), "--transport", transport,
                   "--no-tag-output", os.path.join(RELEASE, "rmpi-bench"), test,
                   "--max-size", str(max_size)]
        if iterations:
            command += ["--iterations", str(iterations)]
        return table(run(command))
    binary, launcher = binaries[system]
    command = launcher + ["-n", str(ranks), binary, test, str(max_size)]
    if iterations:
        command.append(str(iterations))
    return table(run(command))


def markdown(title, unit, results, systems, sizes, higher_is_better):
    lines = [f"#### {title}", "", "| size | " + " | ".join(f"{s} ({unit})" for s in systems)
             + " | " + " | ".join(f"{s} / MPICH" for s in systems if s.startswith("rmpi")) + " |",
             "|---:|" + "---:|" * (len(systems) + sum(s.startswith("rmpi") for s in systems))]
    for size in sizes:
        row = [str(size)]
        for s in systems:
            value = results[s].get(size)
            row.append("" if value is None else f"{value:.2f}")
        for s in systems:
            if not s.startswith("rmpi"):
                continue
            ours, theirs = results[s].get(size), results.get("MPICH", {}).get(size)
            if ours and theirs:
                ratio = ours / theirs
                row.append(f"{ratio:.2f}")
            else:
                row.append("")
        lines.append("| " + " | ".join(row) + " |")
    better = "higher" if higher_is_better else "lower"
    lines += ["", f"Ratios are rmpi / MPICH; {better} is better for rmpi.", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer iterations (noisier)")
    parser.add_argument("--only", nargs="*", help="tests to run, as test-ranks: latency-2 bcast-4")
    args = parser.parse_args()
    mpi_list = mpis()
    binaries = build(mpi_list)
    systems = ["rmpi shm", "rmpi tcp"] + [name for name, _, _ in mpi_list]
    quick = 200 if args.quick else None
    # Collectives run 100 timed calls per size everywhere: MPICH spins when ranks outnumber
    # cores, and OSU's 1000 would take it most of an hour on two cores.
    collective_iterations = 100
    plan = [
        ("latency", 2, 4 << 20, "Latency, 2 ranks", "us", False),
        ("bw", 2, 4 << 20, "Bandwidth, 2 ranks", "MB/s", True),
        ("bcast", 4, 1 << 20, "Bcast, 4 ranks", "us", False),
        ("allreduce", 4, 1 << 20, "Allreduce, 4 ranks", "us", False),
        ("bcast", 8, 1 << 20, "Bcast, 8 ranks", "us", False),
        ("allreduce", 8, 1 << 20, "Allreduce, 8 ranks", "us", False),
    ]
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"Machine: {cpu}, {os.cpu_count()} cores, Linux {platform.release()}.")
    print(f"Systems: {', '.join(systems)}.\n")
    for test, ranks, max_size, title, unit, higher in plan:
        if args.only and f"{test}-{ranks}" not in args.only:
            continue
        iterations = quick if test in ("latency", "bw") else collective_iterations
        results = {s: measure(s, binaries, test, ranks, max_size, iterations) for s in systems}
        sizes = sorted(set().union(*[r.keys() for r in results.values()]))
        print(markdown(title, unit, results, systems, sizes, higher), flush=True)


if __name__ == "__main__":
    main()
