#!/bin/sh
# valgrind.sh: the unit tests, and the end-to-end tests with every sluice server they
# start, under valgrind's memcheck (--leak-check=full); fails on any memory error or
# definite leak.  Slow (about ten times `make check`), so not part of it: run
# `make valgrind`, or tests/valgrind.sh [BUILD_DIR].
#
# BUILD_DIR (default $BUILD, else the current directory) is used as it is when it was
# configured without sanitizers (valgrind and ASan cannot share a process); otherwise a
# sanitizer-free build is configured and made in BUILD_DIR/valgrind-build.  Each process
# writes its own log to <build>/valgrind-logs/ (unit.PID.log, sluice.PID.log); the end
# prints a summary (processes, errors, definite leaks, run time).
#
# Under the wrapper the end-to-end harness multiplies its timeouts by
# SLUICE_TIMEOUT_SCALE; the tests bound by wall time skip themselves (test_load.py's
# LoadTest), and test_crash.py is left out: it restarts a server some fifty times
# within a time budget, and a server killed with SIGKILL writes no leak report anyway.
set -u
here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(dirname "$here")
build=$(cd "${1:-${BUILD:-.}}" && pwd) || exit 1
start=$(date +%s)

if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind.sh: valgrind not found (apt-get install valgrind)" >&2
    exit 1
fi
if [ ! -f "$build/Makefile" ] || grep -q '^SL_SAN = .*-fsanitize' "$build/Makefile"; then
    vg="$build/valgrind-build"
    mkdir -p "$vg" || exit 1
    if [ ! -f "$vg/Makefile" ]; then
        echo "valgrind.sh: configuring a sanitizer-free build in $vg"
        (cd "$vg" && "$srcdir/configure" --enable-werror CFLAGS='-g -O1') >"$vg/configure.out" 2>&1 || {
            cat "$vg/configure.out" >&2
            exit 1
        }
    fi
    build=$vg
fi
logs="$build/valgrind-logs"
rm -rf "$logs"
mkdir -p "$logs" || exit 1
make -C "$build" -j2 all >/dev/null || exit 1

# Memory errors and definite leaks make the process exit with 97 (a FAIL to automake).
vgopts="--leak-check=full --errors-for-leak-kinds=definite --error-exitcode=97 --num-callers=30"
vgopts="$vgopts --track-fds=no --child-silent-after-fork=yes"

status=0
echo "valgrind.sh: unit tests"
make -C "$build" -j2 check TESTS='$(UNIT_TESTS)' LOG_COMPILER=valgrind \
    LOG_FLAGS="$vgopts --log-file=$logs/unit.%p.log" || status=1
echo "valgrind.sh: end-to-end tests (the server under valgrind)"
SLUICE_WRAPPER="valgrind $vgopts --log-file=$logs/sluice.%p.log" SLUICE_TIMEOUT_SCALE=10 \
    make -C "$build" check TESTS='$(filter-out tests/e2e/test_crash.py,$(E2E_TESTS))' ||
    status=1

# Every log: its error count (a process killed by SIGKILL has no summary: any error it
# reported before is still in its log), definite leaks.
procs=0
errors=0
leaked=0
for f in "$logs"/*.log; do
    [ -e "$f" ] || continue
    procs=$((procs + 1))
    n=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$f" | tr -d , | tail -n 1)
    if [ -z "$n" ]; then
        n=$(grep -c -E '^==[0-9]+== (Invalid|Conditional jump|Use of uninitialised|Syscall param|Mismatched|Source and destination overlap|Argument .* of function)' "$f")
    fi
    d=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$f" | tr -d , | tail -n 1)
    if [ "${n:-0}" -gt 0 ] || [ "${d:-0}" -gt 0 ]; then
        echo "valgrind.sh: $f: $n errors, ${d:-0} bytes definitely lost"
        status=1
    fi
    errors=$((errors + ${n:-0}))
    leaked=$((leaked + ${d:-0}))
done
echo "valgrind.sh: $procs processes, $errors errors, $leaked bytes definitely lost," \
    "$(($(date +%s) - start)) s; logs in $logs"
[ "$procs" -gt 0 ] || status=1
exit $status
