#!/bin/sh
# run.sh: runs every sluice benchmark and prints a table of the figures (`make bench`).
#
# Each HTTP benchmark gets a freshly started server (loopback, an ephemeral port, --data
# in a temporary directory, default --fsync normal), stopped by its PID afterwards.
# Every benchmark prints "RESULT <bench> <name> <value> <unit> [details]" lines (the raw
# lines are kept in $WORK/results.txt and echoed); the table at the end lists them.
# `run.sh --smoke` runs everything on tiny inputs (the smoke test of `make check`:
# it checks that each figure is printed, never what it is).
#
# Environment: BENCH_DIR (where the bench_* programs are), SLUICE_BIN (the server),
# SL_SAN (the sanitizer flags the build used: figures of a sanitized build are
# meaningless, so a warning is printed).
set -eu

SMOKE=0
[ "${1:-}" = "--smoke" ] && SMOKE=1
: "${BENCH_DIR:?set BENCH_DIR to the directory holding the bench_* programs}"
: "${SLUICE_BIN:?set SLUICE_BIN to the sluice binary}"

if [ "$SMOKE" = 1 ]; then
    ENGINE="--events 20000 --runs 1"
    HTTP_B="--events 4000 --batch 1000 --conns 2 --runs 1"
    HTTP_S="--events 400 --batch 1 --conns 2 --runs 1"
    HTTP_SM="--events 400 --batch 1 --conns 8 --runs 1"
    LAT="--rate 2000 --seconds 1 --runs 1"
    BATCH="--events 20000 --runs 1"
    SCALE="--queries 20 --rate 1000 --seconds 1 --groups 1000"
    CKPT="--keys 20000 --runs 1"
else
    ENGINE="--events 2000000 --runs 5"
    HTTP_B="--events 1000000 --batch 1000 --conns 4 --runs 3"
    HTTP_S="--events 100000 --batch 1 --conns 4 --runs 3"
    HTTP_SM="--events 200000 --batch 1 --conns 64 --runs 3"
    LAT="--rate 50000 --seconds 5 --runs 3"
    BATCH="--events 10000000 --runs 3"
    SCALE="--queries 1000 --rate 10000 --seconds 10 --groups 100000"
    CKPT="--keys 600000 --runs 3"
fi

case "${SL_SAN:-}" in
*sanitize*) echo "# WARNING: built with sanitizers; configure a separate build with CFLAGS='-O2 -g' for real figures" ;;
esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
SERVER_PID=""
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
cleanup() {
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Starts a fresh server; sets SERVER_PID and PORT.
start_server() {
    stop_server
    rm -rf "$WORK/data" "$WORK/server.log"
    "$SLUICE_BIN" --listen 127.0.0.1:0 --data "$WORK/data" --log-level warn >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    PORT=""
    i=0
    while [ -z "$PORT" ] && [ $i -lt 100 ]; do
        # The log may not exist yet: the server's shell creates it.
        PORT=$(sed -n 's/^sluice listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/server.log" 2>/dev/null || true)
        [ -n "$PORT" ] || sleep 0.05
        i=$((i + 1))
    done
    if [ -z "$PORT" ]; then
        echo "run.sh: the server did not start:" >&2
        cat "$WORK/server.log" >&2
        exit 1
    fi
}

OUT="$WORK/results.txt"
: >"$OUT"
run() {
    "$@" | tee -a "$OUT"
}

echo "# machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
# shellcheck disable=SC2086
run "$BENCH_DIR/bench_engine" $ENGINE
# shellcheck disable=SC2086
run "$BENCH_DIR/bench_http" --ceiling $HTTP_B
# shellcheck disable=SC2086
run "$BENCH_DIR/bench_http" --ceiling $HTTP_S
# The floors libmicrohttpd sets for one event per request: answering at once, and
# handed to another thread and back as sluice's ingest does (no storing in either).
for how in --mhd-null --mhd-handoff; do
    # shellcheck disable=SC2086
    run "$BENCH_DIR/bench_http" $how $HTTP_S
    # shellcheck disable=SC2086
    run "$BENCH_DIR/bench_http" $how $HTTP_SM
done
start_server
# shellcheck disable=SC2086
run "$BENCH_DIR/bench_http" --port "$PORT" --pid "$SERVER_PID" $HTTP_B
start_server
# shellcheck disable=SC2086
run "$BENCH_DIR/bench_http" --port "$PORT" --pid "$SERVER_PID" $HTTP_S
# Many clients of one event each: what group commit is for.
start_server
# shellcheck disable=SC2086
run "$BENCH_DIR/bench_http" --port "$PORT" --pid "$SERVER_PID" $HTTP_SM
start_server
# shellcheck disable=SC2086
run "$BENCH_DIR/bench_latency" --port "$PORT" $LAT
start_server
# shellcheck disable=SC2086
run "$BENCH_DIR/bench_scale" --port "$PORT" --pid "$SERVER_PID" $SCALE
stop_server
# shellcheck disable=SC2086
run "$BENCH_DIR/bench_batch" --dir "$WORK/batch" $BATCH
# shellcheck disable=SC2086
run "$BENCH_DIR/bench_ckpt" --dir "$WORK/ckpt" $CKPT

echo
printf '%-8s %-28s %16s %-9s %s\n' bench figure value unit details
awk '/^RESULT / {
    d = ""; for (i = 6; i <= NF; i++) d = d " " $i
    printf "%-8s %-28s %16s %-9s%s\n", $2, $3, $4, $5, d
}' "$OUT"
