#!/usr/bin/env bash
# Fuzzes rmpi's decoders: `fuzz/run.sh SECONDS [TARGET...]` runs each target (all by
# default) for SECONDS under libFuzzer, starting from the seeds in corpus/ and the kept
# crashes in regressions/, adding what it learns to a scratch corpus (target/corpus), not
# to the repository. A failing input is left in artifacts/TARGET/; copy it to
# regressions/TARGET/ once fixed, and the workspace's tests replay it for ever.
#
# Any single allocation over 32 MiB fails the run: the decoders promise to reserve at most
# 16 MiB for a length they have not seen the bytes of. Uses the nightly toolchain when
# there is one, else the stable one with RUSTC_BOOTSTRAP=1 (cargo fuzz needs unstable
# sanitizer flags).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frame_header tcp_stream tcp_hello shm_record pmi_line hostfile)
toolchain=()
if cargo +nightly --version >/dev/null 2>&1; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo "${toolchain[@]}" fuzz build -O
for target in "${targets[@]}"; do
    scratch=target/corpus/$target
    mkdir -p "$scratch" "regressions/$target" "artifacts/$target"
    echo "== $target: ${seconds}s"
    cargo "${toolchain[@]}" fuzz run -O "$target" "$scratch" "corpus/$target" \
        "regressions/$target" -- -max_total_time="$seconds" -malloc_limit_mb=32 \
        -rss_limit_mb=1024 -print_final_stats=1 2>&1 \
        | grep -E "^(stat::number_of_executed_units|stat::new_units_added|==|SUMMARY|thread|panicked|Test unit|INFO: -max_total)|assertion|Crash|ERROR" || true
    if [ -n "$(ls -A "artifacts/$target" 2>/dev/null)" ]; then
        echo "$target: failing inputs in fuzz/artifacts/$target" >&2
        exit 1
    fi
done
