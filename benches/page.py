#!/usr/bin/env python3
"""Writes BENCHMARKS.md, the benchmarks page, from the last measurements: benches/results/
results.json (benches/compare.py) and, where present, cross-host.json (benches/cross_host.py)
and before-after.json (benches/before_after.py).
compare.py calls it after a run; run it alone to rewrite the page from the files:

    python3 benches/page.py
"""

import json
import os
import statistics
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benches", "results")

# The sizes the page shows; every size is in benches/results/figures.md and the plots.
POINT_TO_POINT_SIZES = [1, 8, 64, 4096, 32768, 1048576, 4194304]
COLLECTIVE_SIZES = [8, 65536, 1048576]

METHOD = """\
## Method

Every system runs the same tests with OSU's conventions under its own launcher: rmpi's
`rmpi-bench` under `rmpirun` on each transport, and `benches/c/osu_like.c` built with each
MPI's compiler wrapper. Latency is half a ping-pong's round trip; bandwidth sends windows of
64 nonblocking messages, then waits for a 4-byte acknowledgement; collectives time 100 calls
per size between barriers and average over ranks. **Typed buffers** are `send_buf`/`recv_into`
(`MPI_Send`/`MPI_Recv` in C); **objects** are rmpi's serde `send`/`recv` of a byte string.

The systems take turns test by test, in several rounds: a cell is the median of the rounds,
lowest and highest in brackets. Every system runs with its defaults (Open MPI with
`--oversubscribe`). MPICH spins while it waits, so where ranks outnumber cores it runs once
and Open MPI (which yields its core, as rmpi does) is the one to compare with. Ratios are
rmpi's figure over the other's: below 1 is better in time, above 1 in bandwidth, computed
from the figures as measured, not as rounded here.
"""

REPRODUCE = """\
## How to reproduce

```sh
apt-get install mpich libmpich-dev openmpi-bin libopenmpi-dev   # the MPIs to compare with
pip install matplotlib                                           # the plots (optional)
python3 benches/compare.py            # about an hour: every test, every system, in turns
python3 benches/cross_host.py         # the cross-host table (root: network namespaces, sshd)
python3 benches/before_after.py --before REV   # rmpi now beside rmpi at REV, in turns
python3 benches/soak.py               # the long soak: 16 ranks, 100,000 messages, each transport
fuzz/run.sh 150 2>&1 | tee /tmp/fuzz.log && python3 fuzz/record.py /tmp/fuzz.log  # fuzzing
python3 benches/page.py               # this page again, from benches/results/
```

`compare.py --only latency-2 bcast-4 --rounds N` runs some tests; `rmpi-bench --help` lists
rmpi's own (`--json` for records); `cargo bench -p rmpi-bench` runs the criterion benches.
"""


def size_label(size):
    for shift, unit in [(20, "MiB"), (10, "KiB")]:
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift} {unit}"
    return f"{size} B"


def figure(value):
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def cell(section, system, size):
    """`median (lowest-highest)` over the rounds, or the one figure."""
    rounds = [r[str(size)] for r in section["rounds"].get(system, []) if str(size) in r]
    if not rounds:
        return "", None
    median = statistics.median(rounds)
    if len(rounds) == 1:
        return figure(median), median
    return f"{figure(median)} ({figure(min(rounds))}-{figure(max(rounds))})", median


def section_table(section, sizes, cores):
    systems = list(section["results"])
    oversubscribed = section["ranks"] > cores
    # rmpi's shared memory against the system to beat on one host: MPICH, or where ranks
    # outnumber cores Open MPI (MPICH spins there); for objects, mpi4py.
    ours = next((s for s in systems if s.startswith("rmpi shm")), None)
    theirs = "Open MPI" if oversubscribed else "MPICH"
    if theirs not in systems:
        theirs = next((s for s in systems if s.startswith("mpi4py")), None)
    ratios = [(ours, theirs)] if ours and theirs else []
    head = ["size"] + systems + [f"{a} / {b}" for a, b in ratios]
    lines = [f"### {section['title']} ({section['unit']})", "",
             "| " + " | ".join(head) + " |", "|---:" * len(head) + "|"]
    shown = [s for s in sizes if any(str(s) in r for r in section["results"].values())]
    for size in shown or [0]:
        medians = {}
        row = [size_label(size) if shown else "-"]
        for system in systems:
            text, medians[system] = cell(section, system, size)
            row.append(text)
        for a, b in ratios:
            ours, theirs = medians.get(a), medians.get(b)
            row.append(f"{ours / theirs:.2f}" if ours and theirs else "")
        lines.append("| " + " | ".join(row) + " |")
    return lines + [""]


def collectives_table(sections, cores):
    """Every collective in one table: a row per collective, ranks and size; rmpi's shared
    memory over MPICH where ranks have cores of their own (MPICH spins where they do not),
    and over Open MPI everywhere."""
    chosen = [s for s in sections if s["test"] in ("bcast", "allreduce", "barrier")]
    if not chosen:
        return []
    chosen.sort(key=lambda s: (["bcast", "allreduce", "barrier"].index(s["test"]), s["ranks"]))
    systems = list(chosen[0]["results"])
    ours = next((s for s in systems if s.startswith("rmpi shm")), None)
    theirs = [t for t in ("MPICH", "Open MPI") if t in systems]
    head = ["collective", "ranks", "size"] + systems + [f"{ours} / {t}" for t in theirs]
    lines = ["### Collectives (us)", "", "| " + " | ".join(head) + " |",
             "|---|" + "---:|" * (len(head) - 1)]
    for section in chosen:
        sizes = [0] if section["test"] == "barrier" else [
            s for s in COLLECTIVE_SIZES if any(str(s) in r for r in section["results"].values())]
        for size in sizes:
            medians = {}
            row = [section["test"], str(section["ranks"]), size_label(size) if size else "-"]
            for system in systems:
                text, medians[system] = cell(section, system, size)
                row.append(text)
            for other in theirs:
                a, b = medians.get(ours), medians.get(other)
                fair = other != "MPICH" or section["ranks"] <= cores
                row.append(f"{a / b:.2f}" if a and b and fair else "")
            lines.append("| " + " | ".join(row) + " |")
    return lines + [""]


def recorded(path):
    """The measurements a script recorded in `path`, or None if it has not run."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def cross_host(path):
    data = recorded(path)
    if data is None:
        return []
    results = data.get("results", data)
    systems = list(results)

    def text(samples):
        if not samples:
            return ""
        return f"{figure(statistics.median(samples))} ({figure(min(samples))}-{figure(max(samples))})"

    when = (f" ({data['rounds']} rounds in turns, {data['measured']})"
            if "rounds" in data else "")
    checked = (" Every bandwidth run moved at least 64 x 4 MiB through the hosts' interfaces."
               if data.get("crossed_at_least") else "")
    intro = ("Two network namespaces on a bridge, with real sshds, stand in for two hosts"
             f"{when}: rmpi runs `rmpirun --hostfile` over ssh, MPICH one rank per namespace "
             "(`MPIR_CVAR_NOLOCAL=1`), `tcp-stream` the same tests over one plain socket (the "
             "path's limit); all unbound." + checked)
    lines = ["## Across hosts", ""] + textwrap.wrap(intro, 96) + [""]
    for title, test, other in [("latency (us)", "latency", "MPICH"),
                               ("bandwidth (MB/s)", "bw", "raw TCP")]:
        lines += [f"| {title} | " + " | ".join(systems) + f" | rmpi / {other} |",
                  "|---:" * (len(systems) + 2) + "|"]
        for size in sorted(results[systems[0]][test], key=int):
            samples = {s: results[s][test].get(size, []) for s in systems}
            ratio = ""
            if samples.get("rmpi") and samples.get(other):
                ratio = f"{statistics.median(samples['rmpi']) / statistics.median(samples[other]):.2f}"
            lines.append(f"| {size_label(int(size))} | " + " | ".join(text(samples[s]) for s in systems)
                         + f" | {ratio} |")
        lines.append("")
    return lines


def before_after_table(data):
    """rmpi now beside rmpi at an earlier commit and the MPI each test is judged against
    (benches/before_after.py): medians over the rounds, lowest-highest in brackets."""
    before, now = data["before"], data["now"]
    rounds = len(next(iter(data["sections"][0]["rounds"].values())))
    intro = (f"rmpi at {now.split()[-1]} beside rmpi at {before.split()[-1]}, the last commit "
             f"before the redesign of its insides: shared memory, {rounds} rounds taking turns "
             f"({data['measured']}), each commit timed by its own `rmpi-bench`; MB/s for "
             f"bandwidth, us otherwise; medians (lowest-highest), ratios the median of each "
             f"round's.")
    lines = ["## Before and after", ""] + textwrap.wrap(intro, 96) + ["",
             f"| test | size | {before} | {now} | now / before | other | now / other |",
             "|---|---:|---:|---:|---:|---:|---:|"]

    def text(samples):
        if not samples:
            return ""
        return (f"{figure(statistics.median(samples))} "
                f"({figure(min(samples))}-{figure(max(samples))})")

    for section in data["sections"]:
        judge = section["judge"]
        rounds = section["rounds"]
        for size in section["sizes"]:
            samples = {name: [r[str(size)] for r in tables if str(size) in r]
                       for name, tables in rounds.items()}
            a, b, c = text(samples.get(before)), text(samples.get(now)), text(samples.get(judge))

            def ratio(x, y):
                pairs = [p / q for p, q in zip(samples.get(x) or [], samples.get(y) or []) if q]
                return f"{statistics.median(pairs):.2f}" if pairs else ""

            lines.append(f"| {section['test']}, {section['ranks']} ranks | {size_label(size)} | "
                         f"{a} | {b} | {ratio(now, before)} | {c} ({judge}) | "
                         f"{ratio(now, judge)} |")
    return lines + [""]


def before_after(path):
    data = recorded(path)
    return [] if data is None else before_after_table(data)


# The headline figures: (test, ranks, size, rmpi's system, the system to beat).
GLANCE = [
    ("latency", 2, 8, "rmpi shm", "MPICH"),
    ("latency", 2, 4096, "rmpi shm", "MPICH"),
    ("latency", 2, 1048576, "rmpi shm", "MPICH"),
    ("bw", 2, 1048576, "rmpi shm", "MPICH"),
    ("bcast", 4, 65536, "rmpi shm", "Open MPI"),
    ("allreduce", 4, 1048576, "rmpi shm", "Open MPI"),
    ("bcast", 8, 1048576, "rmpi shm", "Open MPI"),
    ("allreduce", 8, 65536, "rmpi shm", "Open MPI"),
]


def glance(sections):
    lines = ["## At a glance", "",
             "Medians of this page's tables; the ratio is rmpi's figure over the other's.", "",
             "| test | rmpi | other | ratio |", "|---|---:|---:|---:|"]
    for test, ranks, size, ours, theirs in GLANCE:
        section = next((s for s in sections if s["test"] == test and s["ranks"] == ranks), None)
        if section is None or theirs not in section["results"]:
            continue
        a, b = cell(section, ours, size)[1], cell(section, theirs, size)[1]
        if a and b:
            unit = section["unit"]
            lines.append(f"| {test}, {ranks} ranks, {size_label(size)} ({unit}) | {figure(a)} "
                         f"({ours}) | {figure(b)} ({theirs}) | {a / b:.2f} |")
    return lines + [""]


def fuzzing(path):
    """The last long fuzz run (fuzz/record.py writes it), if there is one: a paragraph; the
    figures per target stay in benches/results/fuzz.json."""
    data = recorded(path)
    if data is None:
        return []
    targets = data["targets"]
    failed = [name for name, t in targets.items() if t["outcome"] != "no failure"]
    inputs = sum(t.get("inputs", 0) for t in targets.values())
    seconds = {t["seconds"] for t in targets.values()}
    each = f"{seconds.pop()} s each" if len(seconds) == 1 else "each for its own time"
    outcome = ("no failure" if not failed else "failures in " + ", ".join(failed))
    text = (f"The last long run of every fuzz target (`{data['command']}`, at {data['commit']}, "
            f"{data['measured']}): {len(targets)} targets ({', '.join(targets)}), {each}, one "
            f"core, libFuzzer with a 32 MiB limit on any allocation: {inputs:,} inputs in all, "
            f"{outcome}. Per target: `benches/results/fuzz.json`.")
    return ["## Fuzzing", ""] + textwrap.wrap(text, 92) + [""]


def soak(path):
    """The last long soak (benches/soak.py writes it), if there is one."""
    data = recorded(path)
    if data is None:
        return []
    text = (f"The last long soak (`{data['command']}`, at {data['commit']}, {data['measured']}): "
            "random traffic of every kind (`crates/rmpi/examples/soak.rs`), each byte and "
            "sender's order checked: nothing lost, duplicated or reordered.")
    lines = ["## Soak", ""] + textwrap.wrap(text, 96) + ["",
             "| transport | ranks | messages | MiB | collectives per rank | rounds | seconds "
             "| peak memory per rank (MiB) |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for transport, run in data["runs"].items():
        peak = run["peak_mib"]
        lines.append(f"| {transport} | {run['ranks']} | {run['messages']:,} | {run['mib']:,.0f} | "
                     f"{run['collectives_per_rank']:,} | {run['rounds']:,} | {run['seconds']:.1f} | "
                     f"{peak['median']:.1f} ({peak['min']:.1f}-{peak['max']:.1f}) |")
    return lines + [""]


def apis(path):
    """The blocking API beside the async one (benches/apis.py writes it), if measured."""
    data = recorded(path)
    if data is None:
        return []
    text = (f"Ping-pong latency through `rmpi::blocking` and `rmpi::run` (`{data['command']}`, "
            f"at {data['commit']}, {data['measured']}), taking turns; medians, range in brackets.")
    lines = ["## Blocking and async API", ""] + textwrap.wrap(text, 96) + ["",
             "| transport | size | async (us) | blocking (us) | blocking / async |",
             "|---|---:|---:|---:|---:|"]
    for transport, run in data["runs"].items():
        for size, values in run["async"].items():
            ours, theirs = median(run["blocking"][size]), median(values)
            lines.append(f"| {transport} | {size_label(int(size))} | {spread(values)} | "
                         f"{spread(run['blocking'][size])} | {ours / theirs:.2f} |")
    return lines + [""]


def median(values):
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def spread(values):
    return f"{figure(median(values))} ({figure(min(values))}-{figure(max(values))})"


def write_page(results_dir=RESULTS, page=os.path.join(ROOT, "BENCHMARKS.md")):
    with open(os.path.join(results_dir, "results.json")) as f:
        data = json.load(f)
    sections = data["sections"]
    when = data.get("measured", "")
    lines = ["# Benchmarks", "",
             "rmpi beside MPICH and Open MPI: one method, one run, one machine. `benches/page.py` "
             "writes this page", "from the last run's results in `benches/results/`, where "
             "`figures.md` and the plots have every size.", "",
             f"{data['machine']} {when}".strip(), ""]
    lines += glance(sections)
    lines += METHOD.splitlines() + [""]
    lines += ["## One host", ""]
    cores = data.get("cores") or os.cpu_count() or 1
    for section in sections:
        if section["test"] in ("latency", "bw"):
            lines += section_table(section, POINT_TO_POINT_SIZES, cores)
    lines += collectives_table(sections, cores)
    for name in ["point-to-point.png", "collectives.png"]:
        if os.path.exists(os.path.join(results_dir, name)):
            lines += [f"![{name[:-4]}](benches/results/{name})", ""]
    lines += cross_host(os.path.join(results_dir, "cross-host.json"))
    lines += before_after(os.path.join(results_dir, "before-after.json"))
    lines += apis(os.path.join(results_dir, "apis.json"))
    lines += soak(os.path.join(results_dir, "soak.json"))
    lines += fuzzing(os.path.join(results_dir, "fuzz.json"))
    lines += REPRODUCE.splitlines()
    with open(page, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    return page


if __name__ == "__main__":
    print("wrote", write_page())
