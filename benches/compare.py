#!/usr/bin/env python3
"""Runs rmpi and the MPI implementations installed here side by side, with one method.

rmpi runs `rmpi-bench` under `rmpirun` on each transport; each MPI runs `benches/c/osu_like.c`
built with its own compiler wrapper and started with its own launcher; where mpi4py is
installed, `benches/mpi4py_bench.py` runs too (pickled objects against rmpi's serde objects,
numpy buffers against rmpi's typed buffers). Systems take turns test by test, so a change in
the machine's load hits all of them alike. Every measured size is echoed to stderr as it
comes, as progress. This machine shifts between modes (the same run measures 8 B latency at
0.4 or 0.5 us, 4 KiB at 0.8 or 1.3, for every system), so the 2-rank typed-buffer tests, and
the collectives with more ranks than cores, run in several rounds, the systems taking turns in
each, and report each size's median (MPICH runs once where ranks outnumber cores: it spins,
and a round takes it minutes). Those collectives also get rmpi's ratio to Open MPI, which
yields its core when idle as rmpi does.

Output, in --out (default benches/results): figures.md (markdown tables of every figure and
of rmpi's ratio to MPICH), results.json (every figure of every round), and, where matplotlib
is installed, point-to-point.png and collectives.png (log-log, one line per system). A run
into benches/results then rewrites BENCHMARKS.md from them (benches/page.py).

    python3 benches/compare.py [--quick] [--only latency-2 bcast-4] [--out DIR]
    python3 benches/compare.py --plot-only     # redraw the plots from results.json
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

import page

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
RESULTS = os.path.join(ROOT, "benches", "results")


def log(message):
    print(message, file=sys.stderr, flush=True)


def run(command, label=None):
    """Runs `command` and returns its stdout; with a label, echoes each line as progress."""
    log("$ " + " ".join(command))
    if label is None:
        result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        if result.returncode != 0:
            raise SystemExit(f"failed: {' '.join(command)}\n{result.stdout}\n{result.stderr}")
        return result.stdout
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in process.stdout:
        lines.append(line)
        figure = line.split("] ", 1)[-1].strip()
        if figure and not figure.startswith("#"):
            log(f"  {label}: {figure}  ({time.monotonic() - started:.0f} s)")
    process.wait(timeout=1800)
    if process.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{''.join(lines)}\n{process.stderr.read()}")
    return "".join(lines)


def table(output):
    """{size: value} from OSU's table format or rmpi-bench's `--json` lines, which keep
    every digit (tags and comments ignored)."""
    figures = {}
    for line in output.splitlines():
        line = line.split("] ", 1)[-1].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("{"):
            record = json.loads(line)
            figures[int(record["size"])] = float(record["value"])
        else:
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


def mpi4py_launcher(mpi_list):
    """The launcher of the MPI that mpi4py was built with, if mpi4py is installed."""
    probe = subprocess.run(
        [sys.executable, "-c", "from mpi4py import MPI; print(MPI.Get_library_version())"],
        capture_output=True, text=True)
    if probe.returncode != 0:
        log("mpi4py is not installed: leaving it out")
        return None
    version = probe.stdout
    for name, _, launcher in mpi_list:
        if ("Open MPI" in version) == (name == "Open MPI"):
            return name, launcher
    log(f"mpi4py uses an MPI without a launcher here ({version.strip()}): leaving it out")
    return None


def build(mpi_list):
    run(["cargo", "build", "--release", "-q", "-p", "rmpi-bench", "-p", "rmpi-launch"])
    binaries = {}
    for name, cc, launcher in mpi_list:
        out = os.path.join(RELEASE, "osu_like-" + name.replace(" ", "").lower())
        run([cc, "-O2", "-Wno-stringop-overflow", "-o", out, os.path.join(ROOT, "benches/c/osu_like.c")])
        binaries[name] = (out, launcher)
    return binaries


def measure(system, binaries, test, ranks, max_size, iterations, release=RELEASE):
    """One system's table for one test. System names: "rmpi shm", "rmpi tcp objects",
    "MPICH", "mpi4py buffers (Open MPI)"...; rmpi's binaries come from `release`."""
    label = f"{system}, {test}, {ranks} ranks"
    objects = "objects" in system
    if system.startswith("rmpi"):
        transport = system.split()[1]
        command = [os.path.join(release, "rmpirun"), "-n", str(ranks), "--transport", transport,
                   "--no-tag-output", os.path.join(release, "rmpi-bench"), test,
                   "--max-size", str(max_size), "--json"]
        if objects:
            command += ["--flavour", "object"]
        if iterations:
            command += ["--iterations", str(iterations)]
        return table(run(command, label))
    if system.startswith("mpi4py"):
        launcher = binaries["mpi4py"]
        command = launcher + ["-n", str(ranks), sys.executable,
                              os.path.join(ROOT, "benches", "mpi4py_bench.py"), test,
                              "object" if objects else "buffer", str(max_size)]
        if iterations:
            command.append(str(iterations))
        return table(run(command, label))
    binary, launcher = binaries[system]
    command = launcher + ["-n", str(ranks), binary, test, str(max_size)]
    if iterations:
        command.append(str(iterations))
    return table(run(command, label))


def median_table(tables):
    """{size: median over the rounds} of one system's tables for one test."""
    sizes = set().union(*[t.keys() for t in tables])
    medians = {}
    for size in sizes:
        values = sorted(t[size] for t in tables if size in t)
        middle = len(values) // 2
        medians[size] = values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
    return medians


def markdown(title, unit, results, systems, sizes, higher_is_better, also=None):
    """A table of every system's figures and rmpi's ratios to MPICH (or mpi4py where MPICH
    is absent), and, with `also`, rmpi shared memory's ratio to that system too."""
    baseline = "MPICH" if "MPICH" in results else next(
        (s for s in systems if s.startswith("mpi4py")), None)
    ratios = [(s, baseline) for s in systems if s.startswith("rmpi")]
    if also in results and "rmpi shm" in results:
        ratios.append(("rmpi shm", also))
    lines = [f"#### {title}", "", "| size | " + " | ".join(f"{s} ({unit})" for s in systems)
             + " | " + " | ".join(f"{s} / {b}" for s, b in ratios) + " |",
             "|---:|" + "---:|" * (len(systems) + len(ratios))]
    for size in sizes:
        row = [str(size)]
        for s in systems:
            value = results[s].get(size)
            row.append("" if value is None else f"{value:.2f}")
        for s, b in ratios:
            ours, theirs = results[s].get(size), results.get(b, {}).get(size)
            row.append(f"{ours / theirs:.2f}" if ours and theirs else "")
        lines.append("| " + " | ".join(row) + " |")
    better = "higher" if higher_is_better else "lower"
    lines += ["", f"Ratios are rmpi / the other system; {better} is better for rmpi.", ""]
    return "\n".join(lines)


def color_of(system):
    """One colour per system and transport in every plot, whatever the flavour."""
    for prefix, color in [("rmpi shm", "C0"), ("rmpi tcp", "C1"), ("MPICH", "C2"),
                          ("Open MPI", "C3"), ("mpi4py", "C4")]:
        if system.startswith(prefix):
            return color
    return None


def plot(sections, out_dir):
    """Draws point-to-point.png and collectives.png from the measured sections."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed: no plots (pip install matplotlib)")
        return
    # A barrier has no sizes to draw against.
    groups = [("point-to-point.png", [s for s in sections if s["test"] in ("latency", "bw")]),
              ("collectives.png", [s for s in sections
                                   if s["test"] not in ("latency", "bw", "barrier")])]
    for name, chosen in groups:
        if not chosen:
            continue
        columns = min(3, len(chosen))
        rows = (len(chosen) + columns - 1) // columns
        figure, axes = plt.subplots(rows, columns, figsize=(6 * columns, 4.5 * rows),
                                    squeeze=False)
        for ax, section in zip(axes.flat, chosen):
            for system, figures in section["results"].items():
                points = sorted((int(size), value) for size, value in figures.items()
                                if int(size) > 0 and value > 0)
                if not points:
                    continue
                style = "-" if system.startswith("rmpi") else "--"
                ax.plot([p[0] for p in points], [p[1] for p in points], style,
                        marker="x" if "objects" in system else ".", color=color_of(system),
                        label=system)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(section["title"])
            ax.set_xlabel("message size (bytes)")
            ax.set_ylabel(section["unit"])
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        for ax in list(axes.flat)[len(chosen):]:
            ax.set_visible(False)
        figure.tight_layout()
        path = os.path.join(out_dir, name)
        figure.savefig(path, dpi=110)
        plt.close(figure)
        log(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer iterations (noisier)")
    parser.add_argument("--only", nargs="*", help="tests to run, as test-ranks: latency-2 bcast-4")
    parser.add_argument("--out", default=RESULTS,
                        help="where figures.md, results.json and the plots go")
    parser.add_argument("--plot-only", action="store_true", help="redraw from results.json")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of the 2-rank typed-buffer tests and of the collectives "
                        "with more ranks than cores (the median is reported; MPICH runs once "
                        "there, as it spins)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.plot_only:
        with open(os.path.join(args.out, "results.json")) as f:
            plot(json.load(f)["sections"], args.out)
        return
    mpi_list = mpis()
    binaries = build(mpi_list)
    mpi4py = mpi4py_launcher(mpi_list)
    if mpi4py:
        binaries["mpi4py"] = mpi4py[1]
    mpi_names = [name for name, _, _ in mpi_list]
    python = [f"mpi4py buffers ({mpi4py[0]})"] if mpi4py else []
    python_objects = [f"mpi4py objects ({mpi4py[0]})"] if mpi4py else []
    buffers = ["rmpi shm", "rmpi tcp"] + mpi_names
    quick = 200 if args.quick else None
    # Collectives run 100 timed calls per size everywhere: MPICH spins when ranks outnumber
    # cores, and OSU's 1000 would take it most of an hour on two cores.
    collective_iterations = 100
    plan = [
        ("latency", 2, 4 << 20, "Latency, 2 ranks, typed buffers", "us", False, buffers + python),
        ("bw", 2, 4 << 20, "Bandwidth, 2 ranks, typed buffers", "MB/s", True, buffers + python),
        ("latency", 2, 4 << 20, "Latency, 2 ranks, objects", "us", False,
         ["rmpi shm objects", "rmpi tcp objects"] + python_objects),
    ]
    for ranks in (2, 4, 8):
        for test in ("bcast", "allreduce"):
            plan.append((test, ranks, 1 << 20, f"{test.capitalize()}, {ranks} ranks", "us", False,
                         buffers))
        plan.append(("barrier", ranks, 0, f"Barrier, {ranks} ranks", "us", False, buffers))
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    machine = f"Machine: {cpu}, {os.cpu_count()} cores, Linux {platform.release()}."
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    measured = f"Measured {time.strftime('%Y-%m-%d')} at commit {commit}."
    every = sorted(set(buffers + python + python_objects + ["rmpi shm objects", "rmpi tcp objects"]))
    report = [machine, f"Systems: {', '.join(every)}.", ""]
    sections = []
    chosen = [step for step in plan if not args.only or f"{step[0]}-{step[1]}" in args.only]
    for number, (test, ranks, max_size, title, unit, higher, systems) in enumerate(chosen, 1):
        log(f"[{number}/{len(chosen)}] {title}")
        iterations = quick if test in ("latency", "bw") else collective_iterations
        oversubscribed = ranks > (os.cpu_count() or 1)
        rounds = args.rounds if title.endswith("typed buffers") or oversubscribed else 1
        tables = {s: [] for s in systems}
        for round_number in range(rounds):
            for system in systems:
                # MPICH spins when ranks outnumber cores: one round takes it minutes.
                if round_number > 0 and oversubscribed and system == "MPICH":
                    continue
                tables[system].append(measure(system, binaries, test, ranks, max_size, iterations))
        results = {s: median_table(t) for s, t in tables.items()}
        sizes = sorted(set().union(*[r.keys() for r in results.values()]))
        # With ranks outnumbering cores, the system to beat is the one that yields (Open MPI).
        also = "Open MPI" if oversubscribed else None
        report.append(markdown(title, unit, results, systems, sizes, higher, also))
        sections.append({"test": test, "ranks": ranks, "title": title, "unit": unit,
                         "results": {s: {str(k): v for k, v in r.items()}
                                     for s, r in results.items()},
                         "rounds": {s: [{str(k): v for k, v in r.items()} for r in t]
                                    for s, t in tables.items()}})
        # Written after every test, so a long run that is stopped keeps what it measured.
        with open(os.path.join(args.out, "figures.md"), "w") as f:
            f.write("\n".join(report) + "\n")
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump({"machine": machine, "measured": measured, "cores": os.cpu_count(),
                       "sections": sections}, f, indent=1)
    print("\n".join(report), flush=True)
    plot(sections, args.out)
    if args.out == RESULTS:
        log(f"wrote {page.write_page()}")


if __name__ == "__main__":
    main()
