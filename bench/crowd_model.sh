#!/usr/bin/env bash
# Crowd model benchmark (issue 11); see docs/benchmarks.md, "Crowd model (issue 11)".
#
#   bash bench/crowd_model.sh
#
# Three parts (PARTS), each measurement after waiting for the machine to be quiet:
#   ds      examples/bench_dawid_skene.rs (Dawid–Skene fit in process: one EM round, to
#           convergence, the ModelBuilder path, peak RSS) on ITEMS × JUDGMENTS judgments from
#           ANNOTATORS annotators over CLASSES answers, alternating with crowd-kit's
#           `DawidSkene` on the very same judgments (CSV worker,task,label; once as read,
#           once integer-coded), RUNS runs each, under /usr/bin/time -v (whole-process peak RSS).
#   plan    `quorum plan --accuracy 0.9 --target 0.99999 --max-n 25 --format json` with
#           --errors namesake and uniform:3, PLAN_RUNS wall-clock runs each (one warm-up).
#   export  `quorum export --out labels.csv` and `... --stats stats.json` of BASELINE (built in
#           a temporary git worktree) against the current tree, alternating, EXPORT_PAIRS
#           pairs, on two SQLite projects each version imports itself: the choice project of
#           the ds part (CLASSES options) and the text project of bench/import_export.sh
#           (examples/bench_data.rs, ITEMS × JUDGMENTS handles). Three versions per pair:
#           before, after with the model cells stored (the import ends with a re-fit), and
#           after with stale cells (imported with --no-fit: the export fits).
#   refit   `quorum model fit` of REFIT_BASELINE against the current tree, alternating, RUNS
#           pairs, on a confidence-stopping copy of the choice project (each run on a fresh
#           copy of one database), while a second process takes SQLite's write lock every
#           5 ms (BEGIN IMMEDIATE; COMMIT): its longest wait is what a labeling submit would
#           have waited for the re-fit.
# Everything happens in a temporary directory that is removed at the end (KEEP=1 keeps it).
#
# Environment knobs (defaults in brackets):
#   PARTS ["ds plan export"]  ITEMS [100000]  JUDGMENTS [9]  ANNOTATORS [200]  CLASSES [4]
#   RUNS [3]  PLAN_RUNS [10]  EXPORT_PAIRS [3]  SEED [42]
#   BASELINE [ef779c5]        the "before" commit of the export part
#   REFIT_BASELINE [072bfe1]  the "before" commit of the refit part (REFIT_BASELINE_QUORUM:
#                             a prebuilt binary instead)
#   BASELINE_QUORUM           a prebuilt baseline binary instead of building BASELINE
#   QUORUM, DS_BENCH          prebuilt current binaries (else built into CARGO_TARGET_DIR)
#   CROWDKIT_PYTHON           a python with crowd-kit; else a venv is made in the work
#                             directory with `pip install crowd-kit` (skipped if that fails)
#   BENCH_WAIT_QUIET [300]    wait up to this many seconds before each measurement for other
#                             processes to use under a tenth of a core (0: measure at once)
#   BENCH_DIR [$TMPDIR or /tmp], KEEP [0], CARGO_TARGET_DIR (default ./target)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PARTS=${PARTS:-"ds plan export"}
ITEMS=${ITEMS:-100000} JUDGMENTS=${JUDGMENTS:-9} ANNOTATORS=${ANNOTATORS:-200} CLASSES=${CLASSES:-4}
RUNS=${RUNS:-3} PLAN_RUNS=${PLAN_RUNS:-10} EXPORT_PAIRS=${EXPORT_PAIRS:-3} SEED=${SEED:-42}
BASELINE=${BASELINE:-ef779c5} REFIT_BASELINE=${REFIT_BASELINE:-072bfe1} KEEP=${KEEP:-0} BENCH_WAIT_QUIET=${BENCH_WAIT_QUIET:-300}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
[ -x /usr/bin/time ] || { echo "error: need GNU time (apt-get install time)" >&2; exit 1; }

PARENT=${BENCH_DIR:-${TMPDIR:-/tmp}}
mkdir -p "$PARENT"
WORK=$(mktemp -d "$PARENT/quorum-crowd.XXXXXX")
cleanup() {
    for w in baseline refit-baseline; do
        if [ -d "$WORK/$w" ]; then git -C "$ROOT" worktree remove --force "$WORK/$w" || true; fi
    done
    if [ "$KEEP" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

if [ -z "${QUORUM:-}" ] || [ -z "${DS_BENCH:-}" ]; then
    echo "building (release) ..." >&2
    cargo build --release --quiet --bin quorum --example bench_dawid_skene --example bench_data
fi
QUORUM=${QUORUM:-$TARGET_DIR/release/quorum}
DS_BENCH=${DS_BENCH:-$TARGET_DIR/release/examples/bench_dawid_skene}
GEN=${GEN:-$TARGET_DIR/release/examples/bench_data}

busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
# Waits until the whole machine used under 0.1 core over a 2 s window (nothing of ours runs).
wait_quiet() {
    local deadline=$((SECONDS + BENCH_WAIT_QUIET)) a b
    while [ "$SECONDS" -lt "$deadline" ]; do
        a=$(busy_jiffies); sleep 2; b=$(busy_jiffies)
        [ $((b - a)) -lt 20 ] && return 0
    done
    [ "$BENCH_WAIT_QUIET" = 0 ] || echo "  (machine still busy after ${BENCH_WAIT_QUIET}s: measuring anyway)" >&2
}
# timed NAME CMD...: /usr/bin/time -v, output in $WORK/NAME.out/.err; sets SECS, RSS_MB and
# OTHERS (CPU seconds the rest of the machine used meanwhile).
timed() {
    local name=$1 a b
    shift
    wait_quiet
    a=$(busy_jiffies)
    if ! /usr/bin/time -v -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"; then
        echo "error: $name failed: $*" >&2
        tail -n 20 "$WORK/$name.err" >&2
        exit 1
    fi
    b=$(busy_jiffies)
    SECS=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0
        for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }' "$WORK/$name.time")
    RSS_MB=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$WORK/$name.time")
    OTHERS=$(awk -F': ' -v j=$((b - a)) '/User time|System time/ { own += $2 }
        END { o = j / 100 - own; printf "%.2f", (o < 0 ? 0 : o) }' "$WORK/$name.time")
}

INFO="quorum $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- src migrations Cargo.toml Cargo.lock || echo '+uncommitted changes'), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "$INFO" >&2
REPORT=()

# --- ds: Dawid–Skene against crowd-kit ------------------------------------------------------
if [[ " $PARTS " == *" ds "* ]]; then
    DATA=(--items "$ITEMS" --annotators "$ANNOTATORS" --judgments "$JUDGMENTS" --classes "$CLASSES" --seed "$SEED")
    "$DS_BENCH" "${DATA[@]}" --runs 0 --csv "$WORK/crowd.csv" >&2
    PY=${CROWDKIT_PYTHON:-}
    if [ -z "$PY" ]; then
        if python3 -m venv "$WORK/ck" >&2 && "$WORK/ck/bin/pip" install -q crowd-kit >"$WORK/pip.log" 2>&1; then
            PY=$WORK/ck/bin/python
        else
            echo "crowd-kit could not be installed; its quoted figures stand as the baseline:" >&2
            tail -n 5 "$WORK/pip.log" >&2 || true
        fi
    fi
    # As read (string ids, pandas' string columns) and integer-coded (the same ids, prefix
    # stripped), the form crowd-kit's own figures are usually quoted in.
    cat >"$WORK/bench_crowdkit.py" <<'EOF'
import sys, time
import pandas as pd
from crowdkit.aggregation import DawidSkene
data = pd.read_csv(sys.argv[1])
if sys.argv[2] == "int":
    data = data.apply(lambda c: c.str[1:].astype("int64"))
t = {}
for name, kw in (("1", dict(n_iter=1, tol=float("-inf"))),
                 ("10", dict(n_iter=10, tol=float("-inf"))), ("default", {})):
    start = time.perf_counter()
    ds = DawidSkene(**kw).fit(data)
    t[name] = (time.perf_counter() - start) * 1e3
print(f"RESULT impl=crowd-kit-{sys.argv[2]} one_round_ms={t['1']:.3f} "
      f"round_ms={(t['10'] - t['1']) / 9:.3f} converge_ms={t['default']:.3f} rounds={len(ds.loss_history_)}")
EOF
    for run in $(seq 1 "$RUNS"); do
        timed "ds-$run" "$DS_BENCH" "${DATA[@]}" --runs 1
        REPORT+=("$(grep RESULT "$WORK/ds-$run.out") peak_mib=$RSS_MB others_s=$OTHERS")
        grep -E '^run|RSS' "$WORK/ds-$run.out" | sed 's/^/  /' >&2
        for ids in str int; do
            [ -n "$PY" ] || break
            timed "ck-$ids-$run" "$PY" "$WORK/bench_crowdkit.py" "$WORK/crowd.csv" "$ids"
            REPORT+=("$(grep RESULT "$WORK/ck-$ids-$run.out") peak_mib=$RSS_MB others_s=$OTHERS")
        done
        printf '  %s\n' "${REPORT[@]: -3}" >&2
    done
    [ -n "$PY" ] && REPORT+=("crowd-kit $("$PY" -c 'import importlib.metadata as m; print(m.version("crowd-kit"), "pandas", m.version("pandas"))')")
fi

# --- plan: the planner's wall time ------------------------------------------------------------
if [[ " $PARTS " == *" plan "* ]]; then
    for errors in namesake uniform:3; do
        cmd=("$QUORUM" plan --accuracy 0.9 --errors "$errors" --target 0.99999 --max-n 25 --format json)
        wait_quiet
        "${cmd[@]}" >"$WORK/plan.json"
        ms=()
        for _ in $(seq 1 "$PLAN_RUNS"); do
            t0=$EPOCHREALTIME
            "${cmd[@]}" >/dev/null
            t1=$EPOCHREALTIME
            ms+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1e3 }')")
        done
        REPORT+=("plan --errors $errors --max-n 25: $(printf '%s\n' "${ms[@]}" | sort -n | awk '{ v[NR] = $1 }
            END { printf "min %s median %s max %s ms over %d runs", v[1], v[int((NR + 1) / 2)], v[NR], NR }'), $(wc -c <"$WORK/plan.json") bytes of JSON")
        echo "  ${REPORT[-1]}" >&2
    done
fi

# --- export: labels before and after ----------------------------------------------------------
if [[ " $PARTS " == *" export "* ]]; then
    BEFORE=${BASELINE_QUORUM:-}
    if [ -z "$BEFORE" ]; then
        echo "building baseline $BASELINE in a worktree ..." >&2
        git -C "$ROOT" worktree add --detach "$WORK/baseline" "$BASELINE" >&2
        (cd "$WORK/baseline" && CARGO_TARGET_DIR=${BASELINE_TARGET:-$WORK/baseline-target} \
            cargo build --release --quiet --bin quorum)
        BEFORE=${BASELINE_TARGET:-$WORK/baseline-target}/release/quorum
    fi
    [ -f "$WORK/crowd.csv" ] || "$DS_BENCH" --items "$ITEMS" --annotators "$ANNOTATORS" \
        --judgments "$JUDGMENTS" --classes "$CLASSES" --seed "$SEED" --runs 0 --csv "$WORK/crowd.csv" >&2
    awk -F, 'NR == 1 { print "item_id,annotator,answer"; next } { print $2 "," $1 "," $3 }' \
        "$WORK/crowd.csv" >"$WORK/choice.csv"
    "$GEN" --items "$ITEMS" --per-item "$JUDGMENTS" --seed "$SEED" --out "$WORK/text.csv" >&2
    options=$(seq 0 $((CLASSES - 1)) | sed 's/.*/"c&"/' | paste -sd,)
    cat >"$WORK/choice.toml" <<EOF
name = "Crowd"
slug = "crowd"
instructions = "Benchmark"
[answer]
kind = "choice"
options = [$options]
[quorum]
agree = $((JUDGMENTS / 2 + 1))
max = $JUDGMENTS
stop = "early"
EOF
    cat >"$WORK/text.toml" <<EOF
name = "Bench"
slug = "bench"
instructions = "Benchmark"
[answer]
kind = "text"
normalize = ["trim", "nfkc", "casefold", "handle"]
[quorum]
agree = $((JUDGMENTS / 2 + 1))
max = $JUDGMENTS
stop = "early"
EOF
    for v in before after fresh; do
        bin=$BEFORE nofit=()
        [ "$v" = before ] || bin=$QUORUM
        [ "$v" = fresh ] && nofit=(--no-fit)
        for p in choice text; do
            db="sqlite://$WORK/$v-$p.db"
            "$bin" --database "$db" project create --config "$WORK/$p.toml" >/dev/null
            "$bin" --database "$db" judgments import --project "$([ $p = choice ] && echo crowd || echo bench)" \
                "${nofit[@]}" "$WORK/$p.csv" | sed "s/^/  $v $p: /" >&2
        done
    done
    REPORT+=("export: project | files | pair | before s | before MiB | stored cells s | MiB | stale cells (fit) s | MiB | stored/before | stale/before | others' CPU s")
    for p in choice text; do
        slug=$([ $p = choice ] && echo crowd || echo bench)
        for files in labels stats; do
            for pair in $(seq 1 "$EXPORT_PAIRS"); do
                row=()
                for v in before after fresh; do
                    bin=$BEFORE
                    [ "$v" = before ] || bin=$QUORUM
                    extra=()
                    [ "$files" = stats ] && extra=(--stats "$WORK/$v-$p.json")
                    timed "export-$v-$p-$files-$pair" "$bin" --database "sqlite://$WORK/$v-$p.db" \
                        export --project "$slug" --out "$WORK/$v-$p.csv" "${extra[@]}"
                    row+=("$SECS" "$RSS_MB" "$OTHERS")
                done
                REPORT+=("$(awk -v p="$p" -v f="$files" -v n="$pair" -v bs="${row[0]}" -v bm="${row[1]}" \
                    -v bo="${row[2]}" -v as="${row[3]}" -v am="${row[4]}" -v ao="${row[5]}" \
                    -v fs="${row[6]}" -v fm="${row[7]}" -v fo="${row[8]}" 'BEGIN {
                    printf "| %s | %s | %d | %.2f | %.1f | %.2f | %.1f | %.2f | %.1f | %.2f | %.2f | %.2f / %.2f / %.2f |",
                        p, f, n, bs, bm, as, am, fs, fm, (bs > 0 ? as / bs : 0), (bs > 0 ? fs / bs : 0), bo, ao, fo }')")
                echo "  ${REPORT[-1]}" >&2
            done
        done
        cmp -s "$WORK/after-$p.csv" "$WORK/fresh-$p.csv" && same="byte-identical" || same="DIFFERENT"
        echo "  $p labels header after: $(head -n1 "$WORK/after-$p.csv"); rows $(($(wc -l <"$WORK/after-$p.csv") - 1)) after, $(($(wc -l <"$WORK/before-$p.csv") - 1)) before" >&2
        REPORT+=("export $p: stored-cells and fresh-fit labels files $same")
    done
fi

# --- refit: a re-fit's time and its write-lock stall, before and after -----------------------
if [[ " $PARTS " == *" refit "* ]]; then
    RBEFORE=${REFIT_BASELINE_QUORUM:-}
    if [ -z "$RBEFORE" ]; then
        echo "building refit baseline $REFIT_BASELINE in a worktree ..." >&2
        git -C "$ROOT" worktree add --detach "$WORK/refit-baseline" "$REFIT_BASELINE" >&2
        (cd "$WORK/refit-baseline" && CARGO_TARGET_DIR=$WORK/refit-baseline-target \
            cargo build --release --quiet --bin quorum)
        RBEFORE=$WORK/refit-baseline-target/release/quorum
    fi
    [ -f "$WORK/crowd.csv" ] || "$DS_BENCH" --items "$ITEMS" --annotators "$ANNOTATORS" \
        --judgments "$JUDGMENTS" --classes "$CLASSES" --seed "$SEED" --runs 0 --csv "$WORK/crowd.csv" >&2
    awk -F, 'NR == 1 { print "item_id,annotator,answer"; next } { print $2 "," $1 "," $3 }' \
        "$WORK/crowd.csv" >"$WORK/choice.csv"
    options=$(seq 0 $((CLASSES - 1)) | sed 's/.*/"c&"/' | paste -sd,)
    cat >"$WORK/confident.toml" <<EOF
name = "Confident"
slug = "confident"
instructions = "Benchmark"
[answer]
kind = "choice"
options = [$options]
[quorum]
stop = "confidence"
target = 0.999
min = 2
max = $JUDGMENTS
EOF
    "$QUORUM" --database "sqlite://$WORK/refit.db" project create --config "$WORK/confident.toml" >/dev/null
    "$QUORUM" --database "sqlite://$WORK/refit.db" judgments import --project confident "$WORK/choice.csv" \
        | sed 's/^/  refit project: /' >&2
    cat >"$WORK/probe.py" <<'EOF'
import os, sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], timeout=600, isolation_level=None)
worst = 0.0; n = 0
while not os.path.exists(sys.argv[2]):
    t = time.perf_counter(); c.execute("BEGIN IMMEDIATE"); c.execute("COMMIT")
    worst = max(worst, time.perf_counter() - t); n += 1
    time.sleep(0.005)
print(f"worst_ms={worst * 1e3:.1f} takes={n}")
EOF
    # A consistent copy of the database (the WAL folded in), fresh for every run.
    copy_db() { python3 -c 'import sqlite3, sys
s = sqlite3.connect(sys.argv[1]); d = sqlite3.connect(sys.argv[2]); s.backup(d)
d.execute("PRAGMA journal_mode = WAL")' "$1" "$2"; }
    REPORT+=("refit: pair | before s | before longest writer wait ms | after s | after longest writer wait ms | after/before s | others' CPU s")
    for pair in $(seq 1 "$RUNS"); do
        row=()
        for v in before after; do
            bin=$RBEFORE
            [ "$v" = after ] && bin=$QUORUM
            rm -f "$WORK/run.db" "$WORK/run.db-wal" "$WORK/run.db-shm" "$WORK/probe.stop"
            copy_db "$WORK/refit.db" "$WORK/run.db"
            wait_quiet
            python3 "$WORK/probe.py" "$WORK/run.db" "$WORK/probe.stop" >"$WORK/probe.out" &
            probe=$!
            BENCH_WAIT_QUIET=0 timed "refit-$v-$pair" "$bin" --database "sqlite://$WORK/run.db" \
                model fit --project confident
            touch "$WORK/probe.stop"
            wait "$probe"
            row+=("$SECS" "$(sed -n 's/.*worst_ms=\([0-9.]*\).*/\1/p' "$WORK/probe.out")" "$OTHERS")
            sed "s/^/  $v: /" "$WORK/refit-$v-$pair.out" >&2
        done
        REPORT+=("$(awk -v n="$pair" -v bs="${row[0]}" -v bw="${row[1]}" -v bo="${row[2]}" \
            -v as="${row[3]}" -v aw="${row[4]}" -v ao="${row[5]}" 'BEGIN {
            printf "| %d | %.2f | %.0f | %.2f | %.0f | %.2f | %.2f / %.2f |", n, bs, bw, as, aw,
                (bs > 0 ? as / bs : 0), bo, ao }')")
        echo "  ${REPORT[-1]}" >&2
    done
fi

echo
echo "$INFO"
printf '%s\n' "${REPORT[@]}"
