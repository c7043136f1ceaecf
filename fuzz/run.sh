#!/usr/bin/env bash
# Builds the fuzz targets once and runs each for a given time, at most PARALLEL at a time,
# then writes OUT/summary.md: per target the wall time, executions, exec/s, corpus size and
# what was found. See docs/operations.md, "Fuzzing".
#
#   usage: fuzz/run.sh [-t SECONDS] [-p PARALLEL] [-o OUT] [TARGET...]
#     -t  seconds per target (default 1800)
#     -p  fuzzers at once (default 2); each is one process on one core, at nice 19
#     -o  results folder (default fuzz/target/results): OUT/<target>.log, OUT/artifacts/<target>/
#         (inputs that crashed, ran out of memory or timed out), OUT/corpus/<target>/ (the
#         inputs the run found; the committed seeds in fuzz/corpus/ are only read)
#     TARGET...  default: all five
#   fuzz/run.sh -o OUT --summary   rewrites OUT/summary.md from the logs of a run
#
# Needs nightly Rust and cargo-fuzz (`cargo install cargo-fuzz`). FUZZ_SANITIZER (default
# none) is passed to `cargo fuzz build -s`: the workspace forbids unsafe code, so ASan would
# watch only dependencies, at about half the speed; `address` is there for a deeper run.
# Builds keep debug assertions (overflow checks). Each run is libFuzzer's fork mode with one
# worker: a crash, timeout or OOM is saved in OUT/artifacts and the run goes on for its time.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
secs=1800
parallel=2
out="$here/target/results"
summary_only=false
while getopts "t:p:o:-:" opt; do
    case "$opt" in
        t) secs="$OPTARG" ;;
        p) parallel="$OPTARG" ;;
        o) out="$OPTARG" ;;
        -) [[ "$OPTARG" == summary ]] && summary_only=true || { echo "unknown option --$OPTARG" >&2; exit 2; } ;;
        *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
all=(frame_decoder link_frames envelope_verify config_parser imports)
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all[@]}")

# Longest input per target: a few frames; a transfer or sync batch with certificates; a
# signed envelope; a config; an import file of some dozens of rows.
declare -A max_len=(
    [frame_decoder]=4096 [link_frames]=16384 [envelope_verify]=8192
    [config_parser]=4096 [imports]=8192
)
triple=x86_64-unknown-linux-gnu
bin_dir="$here/target/$triple/release"

run_one() {
    local t="$1" dict=()
    mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
    [[ -f "$here/dict/$t.dict" ]] && dict=("-dict=$here/dict/$t.dict")
    local start end rc=0
    start=$(date +%s)
    nice -n 19 "$bin_dir/$t" "$out/corpus/$t" "$here/corpus/$t" "${dict[@]}" \
        -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -max_total_time="$secs" -max_len="${max_len[$t]}" -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$out/artifacts/$t/" -print_final_stats=1 \
        > "$out/$t.log" 2>&1 || rc=$?
    end=$(date +%s)
    echo "$t $start $end $rc" >> "$out/times"
}

summary() {
    {
        echo "# Fuzzing run"
        echo
        echo "Host: $(nproc) cores, shared; one libFuzzer worker per target (fork mode), at most"
        echo "$parallel targets at once, nice 19. Sanitizer: ${FUZZ_SANITIZER:-none}; debug assertions on."
        echo
        echo "| target | started (UTC) | wall time | executions | exec/s (mean) | edges | corpus (new) | findings |"
        echo "|---|---|---|---|---|---|---|---|"
        local t
        for t in "${all[@]}"; do
            local line
            line=$(grep "^$t " "$out/times" 2>/dev/null | tail -n 1) || true
            [[ -n "$line" ]] || continue
            local start end rc
            read -r _ start end rc <<< "$line"
            local wall=$((end - start))
            # Executions: the last status line, `#N: cov: ..` (fork mode) or `#N ..`. The rate
            # is the mean over the wall time (a status line's exec/s is its job's only).
            local status execs rate
            status=$(grep -aE '^#[0-9]+' "$out/$t.log" | tail -n 1) || true
            execs=$(sed -E 's/^#([0-9]+).*/\1/' <<< "$status")
            rate=$(( ${execs:-0} / (wall > 0 ? wall : 1) ))
            local cov
            cov=$(grep -oE 'cov: [0-9]+' <<< "$status" | grep -oE '[0-9]+' || true)
            local corpus found
            corpus=$(find "$out/corpus/$t" -type f | wc -l)
            found=$(find "$out/artifacts/$t" -type f | sort | sed "s|^|\`|; s|$|\`|" | paste -sd ' ' -)
            echo "| $t | $(date -u -d "@$start" +%H:%M) | $((wall / 60)) min $((wall % 60)) s | ${execs:-?} | ${rate:-?} | ${cov:-?} | $corpus | ${found:-none} (exit $rc) |"
        done
        echo
        echo "Findings are the inputs libFuzzer saved (crash-*, oom-*, timeout-*, slow-unit-*);"
        echo "replay one with \`fuzz/target/$triple/release/TARGET FILE\`."
    } > "$out/summary.md"
}

mkdir -p "$out"
if $summary_only; then
    summary
    cat "$out/summary.md"
    exit 0
fi

(cd "$here" && cargo +nightly fuzz build -s "${FUZZ_SANITIZER:-none}")
: > "$out/times"
for t in "${targets[@]}"; do
    while [[ $(jobs -rp | wc -l) -ge $parallel ]]; do
        wait -n || true
    done
    run_one "$t" &
done
wait
summary
cat "$out/summary.md"
