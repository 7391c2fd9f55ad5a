#!/bin/sh
# smoke.sh: keeps the benchmarks from rotting.  Runs run.sh --smoke (every benchmark on
# tiny inputs against a real server) and checks that each figure line is printed and
# that results were delivered.  No timing is asserted.  Run by `make check`.
set -u
BENCH_DIR="$(dirname "$SLUICE_BIN")/tests/bench"
export BENCH_DIR
out=$(SL_SAN="" sh "$SLUICE_SRCDIR/tests/bench/run.sh" --smoke 2>&1)
rc=$?
if [ $rc -ne 0 ]; then
    echo "$out"
    echo "FAIL: run.sh --smoke exited $rc"
    exit 1
fi
fail=0
for fig in "engine q0 " "engine q1 " "engine q2 " "engine q5 " "engine q7 " "engine q12 " \
    "http ceiling-ndjson-1000-x2 " "http ceiling-single-1-x2 " \
    "http mhd-null-single-1-x2 " "http mhd-null-single-1-x8 " \
    "http mhd-handoff-single-1-x2 " "http mhd-handoff-single-1-x8 " \
    "http ndjson-1000-x2 " "http single-1-x2 " "http single-1-x8 " \
    "latency changes_ack_to_row_p99 " "latency final_ack_to_row_p99 " \
    "scale idle_rss " "scale rss_per_query " "scale cpu_20q_at_rate " "scale rss_per_group " \
    "batch q12-batch " "batch q7-batch " "ckpt lock_hold_ms " "ckpt ckpt_total_ms " \
    "ckpt ingest_max_ms " "ckpt ingest_p99_ms " "ckpt idle_p99_ms "; do
    if ! printf '%s\n' "$out" | grep -q "^RESULT $fig"; then
        echo "FAIL: no figure line 'RESULT $fig...'"
        fail=1
    fi
done
# Every ingested event reached the HTTP benchmark's subscriber, and the latency run saw
# every changes row.
for want in "delivered=4000/4000" "delivered=400/400" "rows=2000 "; do
    if ! printf '%s\n' "$out" | grep -q "$want"; then
        echo "FAIL: expected '$want' in the output"
        fail=1
    fi
done
if [ $fail -ne 0 ]; then
    echo "$out"
    exit 1
fi
echo "smoke: every benchmark printed its figures"
