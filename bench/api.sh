#!/usr/bin/env bash
# HTTP API benchmark: streamed exports and the worker endpoints; see docs/benchmarks.md.
#
#   bash bench/api.sh                      # both modes; extra arguments go to each run of the example
#   MODES=export bash bench/api.sh         # one mode
#   QUORUM_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres bash bench/api.sh
#
# Builds the release binary and examples/bench_api/, then runs the example once per mode. Each
# run prepares fresh databases in a temporary work directory, starts `quorum serve` on a loopback
# port as a child process (QUORUM_LOG=warn, output to a log file in the work directory) and
# measures it over HTTP:
#
#   export  for 100,000 and 1,000,000 items (3 judgments each, imported through the store): the
#           CLI export of labels.csv, an in-process probe of where its time goes, then timed
#           downloads of /api/v1/projects/{slug}/exports/{labels.csv,labels.jsonl,judgments.csv}
#           with an export token: bytes, seconds, MB/s, the server's peak RSS (VmHWM, reset
#           before each download) and CPU; and the HTTP labels.csv must equal the CLI's (SHA-256).
#   worker  200 annotator clients with annotate tokens loop POST …/next + POST …/leases/{id}/submit
#           for a warm-up and a measured window: round trips/s, p50/p90/p99/max latency, then
#           the stored judgments must equal the acknowledged submits and no item may exceed its
#           max. On SQLite, and on PostgreSQL too when QUORUM_BENCH_POSTGRES_URL names an admin
#           database (a fresh database is created from it and dropped afterwards).
#
# Environment knobs (defaults in brackets; the example reads the BENCH_* ones, see --help):
#   MODES ["export worker"]
#   BENCH_EXPORT_ITEMS [100000,1000000], BENCH_PER_ITEM [3], BENCH_FILES
#   [labels.csv,labels.jsonl,judgments.csv], BENCH_RUNS [1]                        (export)
#   BENCH_CLIENTS [200], BENCH_WORKER_ITEMS [50000], BENCH_DURATION [20], BENCH_WARMUP [3],
#   BENCH_BACKENDS [auto], QUORUM_BENCH_POSTGRES_URL [unset: SQLite only]        (worker)
#   BENCH_SERVER_LOG [warn], BENCH_DIR [$TMPDIR or /tmp]
#   BENCH_WAIT_QUIET [300] before each measurement, wait up to this many seconds for other
#                          processes to use under a tenth of a core (0: measure at once)
#   CARGO_TARGET_DIR       honoured as by cargo (default ./target)
#
# Figures are only meaningful on an otherwise idle machine: every measurement waits for one
# (BENCH_WAIT_QUIET) and reports how much CPU other processes used during it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
MODES=${MODES:-"export worker"}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export BENCH_SERVER_LOG=${BENCH_SERVER_LOG:-warn}
export BENCH_WAIT_QUIET=${BENCH_WAIT_QUIET:-300}

echo "building (release) ..." >&2
cargo build --release --quiet --bin quorum --example bench_api
BENCH=$TARGET_DIR/release/examples/bench_api

INFO="quorum $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- src migrations templates Cargo.toml Cargo.lock 2>/dev/null || echo '+uncommitted changes'), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "$INFO" >&2
if [ -z "${QUORUM_BENCH_POSTGRES_URL:-}" ]; then
    echo "note: QUORUM_BENCH_POSTGRES_URL is not set: the worker benchmark runs on SQLite only" >&2
fi

status=0
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
for mode in $MODES; do
    echo >&2
    echo "== $mode" >&2
    if ! "$BENCH" "$mode" --quorum "$TARGET_DIR/release/quorum" "$@" | tee -a "$OUT"; then
        status=1
    fi
done

echo
echo "$INFO"
if grep -q '^export-row: ' "$OUT"; then
    echo
    echo "| items | file | bytes | s | MB/s | server peak RSS MiB | sampled RSS MiB | server CPU s | client CPU s |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
    sed -n 's/^export-row: //p' "$OUT"
    echo
    echo "| items | judgments | CLI labels.csv bytes | CLI s | CLI MB/s | server idle RSS MiB | HTTP labels.csv vs CLI |"
    echo "|---:|---:|---:|---:|---:|---:|---|"
    sed -n 's/^export-summary: //p' "$OUT"
    if grep -q '^export-probe: ' "$OUT"; then
        echo
        echo "| items | probe (in process) | s | µs per item | labels.csv MB/s equivalent |"
        echo "|---:|---|---:|---:|---:|"
        sed -n 's/^export-probe: //p' "$OUT"
    fi
    grep -E '^(memory|target)' "$OUT" || true
fi
if grep -q '^worker-row: ' "$OUT"; then
    echo
    echo "| backend | clients | round trips measured | round trips/s | round trip p50 / p90 / p99 / max ms | next p50 / p99 ms | submit p50 / p99 ms | stored = acknowledged | items over max |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|---:|"
    sed -n 's/^worker-row: //p' "$OUT"
fi
exit "$status"
