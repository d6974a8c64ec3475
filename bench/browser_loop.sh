#!/usr/bin/env bash
# Browser-loop benchmark on SQLite; see docs/benchmarks.md.
#
#   bash bench/browser_loop.sh                 # extra arguments go to the example, e.g. --duration 60
#
# Builds the release binary and examples/bench_browser_loop.rs, then runs the example once per
# server log setting: it prepares a fresh SQLite database (50 annotators, one 7-of-9 choice
# project), starts `quorum serve` on a loopback port as a child process, logs every annotator
# in and has them all label through the browser routes (GET the labeling page, POST the answer
# with its CSRF token, follow the 303 to the next item) for a warm-up and a measured window,
# prints judgments/s and latency percentiles, and checks that the judgments stored equal the
# ones acknowledged. Server output goes to a log file in the work directory (removed afterwards
# unless --keep), never to the terminal.
#
# Environment knobs (defaults in brackets):
#   LOGS ["warn default"]  server QUORUM_LOG, one run each: `warn` logs only problems; `default`
#                          is the production default (info: one line per request, to the file)
#   RUNS [1]               repetitions of each setting
#   BASELINE [unset]       a git revision (e.g. a commit before a change): its tree is exported to
#                          $CARGO_TARGET_DIR/baseline-src, built release into
#                          $CARGO_TARGET_DIR/baseline, and run beside this tree in the same session,
#                          alternating baseline, current, baseline, current, ...: the before/after
#                          figures of a change measured on the same machine at the same time
#   BENCH_ANNOTATORS [50], BENCH_ITEMS [30000], BENCH_DURATION [20], BENCH_WARMUP [3],
#   BENCH_DIR [$TMPDIR or /tmp]   read by the example (same as its flags; see --help)
#   CARGO_TARGET_DIR       honoured as by cargo (default ./target)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
LOGS=${LOGS:-"warn default"}
RUNS=${RUNS:-1}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

echo "building (release) ..." >&2
cargo build --release --quiet --bin quorum --example bench_browser_loop
BUILDS="current"
if [ -n "${BASELINE:-}" ]; then
    BASE_REV=$(git -C "$ROOT" rev-parse --short "$BASELINE")
    BASE_SRC=$TARGET_DIR/baseline-src
    echo "building the baseline $BASE_REV (release) in $TARGET_DIR/baseline ..." >&2
    rm -rf "$BASE_SRC"
    mkdir -p "$BASE_SRC"
    git -C "$ROOT" archive "$BASE_REV" | tar -x -C "$BASE_SRC"
    (cd "$BASE_SRC" && CARGO_TARGET_DIR=$TARGET_DIR/baseline cargo build --release --quiet --bin quorum --example bench_browser_loop)
    BUILDS="baseline current"
fi

# The example and the server of one build: the example prepares the database through its own
# build's library, so each build's schema matches its server.
dir_of() {
    case $1 in
        baseline) echo "$TARGET_DIR/baseline/release" ;;
        *) echo "$TARGET_DIR/release" ;;
    esac
}
name_of() {
    case $1 in
        baseline) echo "baseline $BASE_REV" ;;
        *) echo "current $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- src migrations templates Cargo.toml Cargo.lock 2>/dev/null || echo '+uncommitted')" ;;
    esac
}

INFO="quorum $(name_of current)${BASE_REV:+ beside $(name_of baseline)}, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "$INFO" >&2

ROWS=()
status=0
for log in $LOGS; do
    for run in $(seq 1 "$RUNS"); do
        for build in $BUILDS; do
            bin=$(dir_of "$build")
            echo >&2
            echo "== $(name_of "$build"), server QUORUM_LOG=$log, run $run" >&2
            out=$(mktemp)
            if ! "$bin/examples/bench_browser_loop" --quorum "$bin/quorum" --server-log "$log" "$@" | tee "$out"; then
                status=1
            fi
            ROWS+=("| $(name_of "$build") $(sed -n 's/^row: //p' "$out")")
            rm -f "$out"
        done
    done
done

echo
echo "$INFO"
echo
echo "| build | server QUORUM_LOG | judgments measured | judgments/s | loop p50 / p99 ms | GET p50 / p99 ms | POST p50 / p99 ms | server CPU µs per judgment | other processes' CPU (% of a core) | stored = acknowledged |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${ROWS[@]}"
exit "$status"
