#!/usr/bin/env bash
# Browser-loop benchmark on SQLite; see docs/benchmarks.md.
#
#   bash bench/browser_loop.sh                 # extra arguments go to the example, e.g. --duration 60
#   RULES="early confidence" RUNS=3 bash bench/browser_loop.sh   # the two stopping rules, A B A B
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
#   RULES [unset]          the project's stopping rules to run, e.g. "early confidence": each run
#                          does one of each on this build, alternating (early, confidence, early,
#                          confidence, ...; RUNS pairs), and the summary adds the ratio of each
#                          rule to the first, pair by pair, and a table of what each rule decided
#                          (judgments per decided item, accuracy of the resolved labels, re-fits).
#                          Not with BASELINE. Unset: the example's default (early, 7 of 9)
#   BENCH_ANNOTATORS [50], BENCH_ITEMS [30000], BENCH_DURATION [20], BENCH_WARMUP [3],
#   BENCH_DIR [$TMPDIR or /tmp]   read by the example (same as its flags; see --help)
#   CARGO_TARGET_DIR       honoured as by cargo (default ./target)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
LOGS=${LOGS:-"warn default"}
RUNS=${RUNS:-1}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RULES=${RULES:-}
if [ -n "$RULES" ] && [ -n "${BASELINE:-}" ]; then
    echo "RULES and BASELINE cannot be combined: compare rules on one build, or builds on one rule" >&2
    exit 2
fi

echo "building (release) ..." >&2
cargo build --release --quiet --bin quorum --example bench_browser_loop
# Named once, as built: a commit made while the runs go on does not relabel them.
CURRENT_NAME="current $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- src migrations templates Cargo.toml Cargo.lock 2>/dev/null || echo '+uncommitted')"
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
        *) echo "$CURRENT_NAME" ;;
    esac
}

INFO="quorum $(name_of current)${BASE_REV:+ beside $(name_of baseline)}, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "$INFO" >&2

ROWS=()
OUTCOMES=()
RATIOS=()
status=0
for log in $LOGS; do
    for run in $(seq 1 "$RUNS"); do
        for build in $BUILDS; do
            first=""
            for rule in ${RULES:-default}; do
                bin=$(dir_of "$build")
                rule_args=()
                rule_name=early
                if [ -n "$RULES" ]; then
                    rule_args=(--rule "$rule")
                    rule_name=$rule
                fi
                echo >&2
                echo "== $(name_of "$build"), rule $rule_name, server QUORUM_LOG=$log, run $run" >&2
                out=$(mktemp)
                if ! "$bin/examples/bench_browser_loop" --quorum "$bin/quorum" --server-log "$log" "${rule_args[@]}" "$@" | tee "$out"; then
                    status=1
                fi
                ROWS+=("| $(name_of "$build") | $rule_name $(sed -n 's/^row: //p' "$out")")
                if [ -n "$RULES" ]; then
                    OUTCOMES+=("| $run | $rule_name $(sed -n 's/^outcomes: //p' "$out")")
                    figures=$(sed -n 's/^figures: //p' "$out")
                    if [ -z "$first" ]; then
                        first=$figures
                    elif [ -n "$figures" ] && [ -n "$first" ]; then
                        # judgments/s, POST p50 and loop p50 of this rule over the first rule's, this pair.
                        RATIOS+=("$(awk -v a="$first" -v b="$figures" -v logs="$log" -v run="$run" '
                            function get(s, k,   n, i, kv, f) {
                                n = split(s, f, " ")
                                for (i = 1; i <= n; i++) { split(f[i], kv, "="); if (kv[1] == k) return kv[2] }
                                return ""
                            }
                            BEGIN {
                                printf "| %s | %s | %s / %s | %.3f | %.3f | %.3f | %.3f |", logs, run, get(b, "rule"), get(a, "rule"),
                                    get(b, "judgments_per_s") / get(a, "judgments_per_s"),
                                    get(b, "post_p50_ms") / get(a, "post_p50_ms"),
                                    get(b, "post_p99_ms") / get(a, "post_p99_ms"),
                                    get(b, "loop_p50_ms") / get(a, "loop_p50_ms")
                            }')")
                    fi
                fi
                rm -f "$out"
            done
        done
    done
done

echo
echo "$INFO"
echo
echo "| build | rule | server QUORUM_LOG | judgments measured | judgments/s | loop p50 / p99 ms | GET p50 / p99 ms | POST p50 / p99 ms | server CPU µs per judgment | other processes' CPU (% of a core) | stored = acknowledged |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${ROWS[@]}"
if [ ${#RATIOS[@]} -gt 0 ]; then
    echo
    echo "| server QUORUM_LOG | pair | rule / rule | judgments/s ratio | POST p50 ratio | POST p99 ratio | loop p50 ratio |"
    echo "|---|---:|---|---:|---:|---:|---:|"
    printf '%s\n' "${RATIOS[@]}"
fi
if [ ${#OUTCOMES[@]} -gt 0 ]; then
    echo
    echo "What each rule decided, from the database after the run (warm-up included):"
    echo
    echo "| run | rule | decided items | judgments per decided item | replayed: judgment the rule decides at | resolved | resolved labels = true option | judgments = true option | crowd-model re-fits | flagged for review |"
    echo "|---:|---|---:|---:|---|---:|---:|---:|---|---:|"
    printf '%s\n' "${OUTCOMES[@]}"
fi
exit "$status"
