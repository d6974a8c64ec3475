#!/usr/bin/env bash
# Bulk import/export benchmark on SQLite; see docs/benchmarks.md.
#
#   bash bench/import_export.sh
#
# For each scenario (100,000 items x 10 judgments = 1,000,000 rows, and 100,000 items x 9 =
# 900,000 rows) it creates a fresh SQLite database and project, then times with
# /usr/bin/time -v (wall clock and peak RSS):
#   1. `quorum judgments import` of the generated long-format CSV,
#   2. `quorum export --out labels.csv --stats stats.json`,
#   3. the yardstick: the sqlite3 shell's `.mode csv` + `.import FILE judgments` of the same
#      CSV into a bare table of a fresh database (the table is created from the header row).
# and prints a Markdown table. Everything happens in a temporary directory that is removed at
# the end (KEEP=1 keeps it).
#
# Environment knobs (defaults in brackets):
#   ITEMS [100000]        items per scenario
#   PER_ITEM ["10 9"]     judgments per item, one scenario each
#   RUNS [1]              repetitions of each scenario (one table row per run)
#   SEED [42]             generator seed
#   BENCH_DIR [$TMPDIR or /tmp]  where to make the work directory for the CSVs and databases
#                         (its disk is part of what is measured)
#   KEEP [0]              1 keeps the work directory afterwards
#   CARGO_TARGET_DIR      honoured as by cargo (default ./target)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
ITEMS=${ITEMS:-100000}
PER_ITEM=${PER_ITEM:-"10 9"}
RUNS=${RUNS:-1}
SEED=${SEED:-42}
KEEP=${KEEP:-0}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

# Tools: sqlite3 and GNU time (its -v gives the peak RSS). Install them when root.
missing=()
command -v sqlite3 >/dev/null 2>&1 || missing+=(sqlite3)
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing ${missing[*]} ..." >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
    else
        echo "error: need ${missing[*]} (apt-get install sqlite3 time)" >&2
        exit 1
    fi
fi

echo "building (release) ..." >&2
cargo build --release --quiet --bin quorum --example bench_data
QUORUM=$TARGET_DIR/release/quorum
GEN=$TARGET_DIR/release/examples/bench_data

PARENT=${BENCH_DIR:-${TMPDIR:-/tmp}}
mkdir -p "$PARENT"
WORK=$(mktemp -d "$PARENT/quorum-bench.XXXXXX")
cleanup() {
    if [ "$KEEP" = 1 ]; then
        echo "kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

cat >"$WORK/project.toml" <<'EOF'
name = "Bench"
slug = "bench"
instructions = "Benchmark"
[answer]
kind = "text"
normalize = ["trim", "nfkc", "casefold", "handle"]
[quorum]
agree = 6
max = 10
stop = "early"
EOF

# timed NAME CMD...: runs CMD under /usr/bin/time -v, its output in $WORK/NAME.out/.err;
# sets SECS (wall clock, seconds) and RSS_MB (peak resident set in MiB: GNU time's kbytes / 1024).
timed() {
    local name=$1
    shift
    if ! /usr/bin/time -v -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"; then
        echo "error: $name failed: $*" >&2
        tail -n 20 "$WORK/$name.err" >&2
        cat "$WORK/$name.time" >&2
        exit 1
    fi
    SECS=$(awk -F': ' '/Elapsed \(wall clock\)/ {
        n = split($2, p, ":"); s = 0
        for (i = 1; i <= n; i++) s = s * 60 + p[i]
        printf "%.2f", s }' "$WORK/$name.time")
    RSS_MB=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$WORK/$name.time")
}

q() { "$QUORUM" --database "sqlite://$DB" "$@"; }

INFO="quorum $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- src migrations Cargo.toml Cargo.lock 2>/dev/null || echo '+uncommitted changes'), sqlite3 shell $(sqlite3 --version | cut -d' ' -f1), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "$INFO" >&2

ROWS_OUT=()
for k in $PER_ITEM; do
    CSV=$WORK/judgments-${ITEMS}x$k.csv
    "$GEN" --items "$ITEMS" --per-item "$k" --seed "$SEED" --out "$CSV" 2>&1 | sed 's/^/  /' >&2
    rows=$(($(wc -l <"$CSV") - 1))
    for run in $(seq 1 "$RUNS"); do
        tag=${ITEMS}x$k-$run
        DB=$WORK/quorum-$tag.db
        rm -f "$DB" "$DB-wal" "$DB-shm"
        q project create --config "$WORK/project.toml" >/dev/null

        timed "import-$tag" "$QUORUM" --database "sqlite://$DB" judgments import --project bench "$CSV"
        imp_s=$SECS imp_rss=$RSS_MB
        echo "  $tag import: $(tail -n1 "$WORK/import-$tag.out")" >&2

        timed "export-$tag" "$QUORUM" --database "sqlite://$DB" export --project bench \
            --out "$WORK/labels-$tag.csv" --stats "$WORK/stats-$tag.json"
        exp_s=$SECS exp_rss=$RSS_MB
        echo "  $tag export: $(cat "$WORK/export-$tag.out" "$WORK/export-$tag.err" | grep -m1 exported); $(($(wc -l <"$WORK/labels-$tag.csv") - 1)) label rows, stats $(wc -c <"$WORK/stats-$tag.json") bytes" >&2
        echo "  $tag check: $(q project list | tr -s ' ')" >&2

        YARD=$WORK/yard-$tag.db
        rm -f "$YARD"
        timed "sqlite3-$tag" sqlite3 -cmd '.mode csv' "$YARD" ".import '$CSV' judgments"
        yard_s=$SECS
        echo "  $tag sqlite3 .import: $(sqlite3 "$YARD" 'SELECT COUNT(*) FROM judgments') rows" >&2

        row="$(awk -v rows="$rows" -v k="$k" -v items="$ITEMS" -v is="$imp_s" -v ir="$imp_rss" \
            -v es="$exp_s" -v er="$exp_rss" -v ys="$yard_s" 'BEGIN {
            printf "| %d × %d | %d | %.2f | %d | %.1f | %.2f | %.1f | %.2f | %.1f× |",
                items, k, rows, is, (is > 0 ? rows / is : 0), ir, es, er, ys, (ys > 0 ? is / ys : 0) }')"
        ROWS_OUT+=("$row")
        echo "  $tag result: $row" >&2
        rm -f "$DB" "$DB-wal" "$DB-shm" "$YARD"
    done
    rm -f "$CSV"
done

echo
echo "$INFO"
echo
echo "| items × judgments | rows | import s | judgments/s | import peak RSS MiB | export s (labels+stats) | export peak RSS MiB | sqlite3 .import s | ratio quorum/sqlite3 |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS_OUT[@]}"
