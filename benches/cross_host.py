#!/usr/bin/env python3
"""rmpi's TCP transport across hosts, beside MPICH and a plain TCP stream on the same path.

Starts two test hosts (network namespaces on a bridge, each with a real sshd:
tests-integration/scripts/namespace-hosts.sh), then runs, the systems taking turns in each round:
- rmpi: `rmpirun --hostfile` over ssh, one rank per host, `rmpi-bench latency` and `bw`,
  unbound (`--bind-to none`, as MPICH runs: the test hosts share this machine's cores);
- MPICH: `benches/c/osu_like.c` under `mpiexec.mpich`, one rank in each namespace
  (`ip netns exec`), with MPIR_CVAR_NOLOCAL=1 and UCX over TCP so that it cannot share memory;
- the raw stream: `tcp-stream` (benches/src/bin), the same method over one plain socket.

Prints a table of medians with the spread (lowest-highest) and writes
benches/results/cross-host.md and cross-host.json, from which benches/page.py writes the
"Across hosts" part of BENCHMARKS.md. Needs root, iproute2, openssh-server and
MPICH with its compiler (apt-get install openssh-server mpich libmpich-dev).

    python3 benches/cross_host.py [--rounds 5]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
HOSTS_SCRIPT = os.path.join(ROOT, "tests-integration", "scripts", "namespace-hosts.sh")
LATENCY_SIZES = [8, 4096, 1 << 20]
BW_SIZES = [1 << k for k in range(16, 23)]  # 64 KiB - 4 MiB


def run(command, **kwargs):
    print("  $", " ".join(command), flush=True)
    return subprocess.run(command, check=True, text=True, capture_output=True, **kwargs).stdout


def table(output):
    """OSU's table as {size: value}."""
    values = {}
    for line in output.splitlines():
        fields = line.split()
        if len(fields) == 2 and not line.startswith("#"):
            try:
                values[int(fields[0])] = float(fields[1])
            except ValueError:
                pass
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("cross_host.py: network namespaces need root")
    for tool in ["ip", "sshd", "mpiexec.mpich", "mpicc.mpich"]:
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            sys.exit(f"cross_host.py: {tool} is missing (apt-get install openssh-server mpich libmpich-dev)")

    run(["cargo", "build", "--release", "-p", "rmpi-bench", "-p", "rmpi-launch"], cwd=ROOT)
    osu = os.path.join(RELEASE, "osu_like-mpich")
    run(["mpicc.mpich", "-O2", "-Wno-stringop-overflow", "-o", osu,
         os.path.join(ROOT, "benches", "c", "osu_like.c")])
    bench, rmpirun, stream = (os.path.join(RELEASE, n) for n in ["rmpi-bench", "rmpirun", "tcp-stream"])

    work = tempfile.mkdtemp(prefix="rmpi-cross-host-")
    run(["bash", HOSTS_SCRIPT, "up", work, "2"])
    hostfile = os.path.join(work, "hostfile")
    with open(hostfile, "w") as f:
        f.write("10.200.0.1\n10.200.0.2\n")
    ssh = f"ssh -F {os.path.join(work, 'ssh_config')}"

    def rmpi(test, sizes):
        # Unbound, as MPICH runs: rmpirun places ranks per host, and the two test hosts
        # share this machine's cores, so its default would start both ranks on core 0.
        return table(run([rmpirun, "--no-tag-output", "--bind-to", "none", "--hostfile", hostfile,
                          "--launcher-exec", ssh, bench, test,
                          "--min-size", str(sizes[0]), "--max-size", str(sizes[-1])]))

    def mpich(test, sizes):
        env = dict(os.environ, MPIR_CVAR_NOLOCAL="1", UCX_TLS="tcp", UCX_NET_DEVICES="eth0")
        side = lambda host: ["-n", "1", "ip", "netns", "exec", f"rmpi-h{host}", osu, test, str(sizes[-1])]
        return table(run(["mpiexec.mpich", *side(1), ":", *side(2)], env=env))

    def raw(test, sizes):
        server = subprocess.Popen(["ip", "netns", "exec", "rmpi-h1", stream, "serve", "10.200.0.1:5555"])
        try:
            return table(run(["ip", "netns", "exec", "rmpi-h2", stream, test, "10.200.0.1:5555",
                              "--min-size", str(sizes[0]), "--max-size", str(sizes[-1])]))
        finally:
            server.kill()
            server.wait()

    def sent_by_hosts():
        """Bytes the test hosts' interfaces have sent: what crossed the bridge."""
        return sum(int(run(["ip", "netns", "exec", f"rmpi-h{host}", "cat",
                            "/sys/class/net/eth0/statistics/tx_bytes"])) for host in (1, 2))

    systems = [("rmpi", rmpi), ("MPICH", mpich), ("raw TCP", raw)]
    results = {name: {"latency": {}, "bw": {}} for name, _ in systems}
    # Per system, the fewest bytes one of its bandwidth runs moved across the bridge.
    crossed = {}
    try:
        for round_ in range(args.rounds):
            print(f"round {round_ + 1} of {args.rounds}", flush=True)
            for test, sizes in [("latency", LATENCY_SIZES), ("bw", BW_SIZES)]:
                for name, measure in systems:
                    before = sent_by_hosts() if test == "bw" else None
                    values = measure(test, sizes)
                    if before is not None:
                        moved = sent_by_hosts() - before
                        crossed[name] = min(crossed.get(name, moved), moved)
                    for size in sizes:
                        if size in values:
                            results[name][test].setdefault(size, []).append(values[size])
    finally:
        run(["bash", HOSTS_SCRIPT, "down", work, "2"])
        shutil.rmtree(work, ignore_errors=True)

    def cell(samples):
        if not samples:
            return "-"
        return f"{statistics.median(samples):,.2f} ({min(samples):,.2f}-{max(samples):,.2f})"

    lines = [f"Medians of {args.rounds} rounds, the systems taking turns; lowest-highest in brackets.", "",
             "| latency, us | rmpi | MPICH | raw TCP |", "|---|---|---|---|"]
    for size in LATENCY_SIZES:
        lines.append(f"| {size:,} B | " + " | ".join(cell(results[n]["latency"].get(size, [])) for n, _ in systems) + " |")
    lines += ["", "| bandwidth, MB/s | rmpi | MPICH | raw TCP | rmpi / raw |", "|---|---|---|---|---|"]
    for size in BW_SIZES:
        rmpi_bw, raw_bw = results["rmpi"]["bw"].get(size, []), results["raw TCP"]["bw"].get(size, [])
        ratio = f"{statistics.median(rmpi_bw) / statistics.median(raw_bw):.0%}" if rmpi_bw and raw_bw else "-"
        lines.append(f"| {size // 1024:,} KiB | " + " | ".join(cell(results[n]["bw"].get(size, [])) for n, _ in systems)
                     + f" | {ratio} |")
    # A bandwidth run sends at least one window of its largest messages.
    window = 64 * BW_SIZES[-1]
    lines += ["", "Least a bandwidth run sent across the bridge: " + ", ".join(
        f"{name} {bytes_ / 2**20:,.0f} MiB" for name, bytes_ in crossed.items())]
    text = "\n".join(lines) + "\n"
    print(text)
    short = [name for name, bytes_ in crossed.items() if bytes_ < window]
    if short:
        sys.exit(f"cross_host.py: {', '.join(short)} sent less than a window across the bridge")
    out = os.path.join(ROOT, "benches", "results")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "cross-host.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "cross-host.json"), "w") as f:
        json.dump({"measured": time.strftime("%Y-%m-%d"), "rounds": args.rounds,
                   "crossed_at_least": crossed, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
