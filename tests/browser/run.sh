#!/bin/sh
# run.sh: the dashboard's browser tests, run by `make check`. Installs playwright-core and
# puppeteer-core (the versions pinned in package.json/package-lock.json) into the build
# directory, never into the source tree, then runs the unit tests of web/model.js, the
# end-to-end tests of dashboard.test.mjs in Debian's headless Chromium and those of
# firefox.test.mjs in Debian's headless firefox-esr, against the real server ($SLUICE_BIN).
# Exits 77 (skipped) only when node, npm or chromium is not installed, or the packages
# cannot be installed; without firefox-esr only the Firefox tests are skipped, with a
# message. build-aux/sluice-dev installs them all.
set -eu
srcdir=${SLUICE_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
here=$srcdir/tests/browser
work=$(pwd)/tests/browser
chromium=${CHROMIUM:-/usr/bin/chromium}
firefox=${FIREFOX:-/usr/bin/firefox-esr}

skip() {
    echo "SKIP: $*" >&2
    exit 77
}
command -v node >/dev/null 2>&1 || skip "node is not installed (apt-get install nodejs npm)"
command -v npm >/dev/null 2>&1 || skip "npm is not installed (apt-get install npm)"
[ -x "$chromium" ] || skip "$chromium is not installed (apt-get install chromium)"
[ -n "${SLUICE_BIN:-}" ] || SLUICE_BIN=$(pwd)/sluice
[ -x "$SLUICE_BIN" ] || { echo "no sluice binary at $SLUICE_BIN" >&2; exit 99; }

mkdir -p "$work"
# The installed versions of both packages, compared with the pinned ones.
versions() {
    for p in playwright-core puppeteer-core; do
        case $1 in
        want) sed -n "s/.*\"$p\": *\"\([^\"]*\)\".*/\1/p" "$here/package.json" ;;
        have) sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
            "$work/node_modules/$p/package.json" 2>/dev/null | head -n 1 ;;
        esac
    done
}
want=$(versions want)
if [ "$(versions have)" != "$want" ]; then
    if [ "$(cd "$here" && pwd -P)" != "$(cd "$work" && pwd -P)" ]; then
        cp "$here/package.json" "$here/package-lock.json" "$work/"
        chmod u+w "$work/package.json" "$work/package-lock.json"
    fi
    (cd "$work" && npm ci --no-audit --no-fund --loglevel=error >npm.log 2>&1) ||
        { cat "$work/npm.log" >&2; skip "npm could not install the packages pinned in package.json"; }
    rm -f "$work/npm.log"
fi

set -- "$here/model.test.mjs" "$here/dashboard.test.mjs"
if [ -x "$firefox" ]; then
    set -- "$@" "$here/firefox.test.mjs"
else
    echo "SKIP (Firefox only): $firefox is not installed (apt-get install firefox-esr);" \
        "the Chromium tests still run" >&2
fi

export SLUICE_BIN SLUICE_SRCDIR="$srcdir" CHROMIUM="$chromium" FIREFOX="$firefox"
export PLAYWRIGHT_DIR="$work" SCREENSHOT_DIR="$work/screenshots"
exec node --test --test-concurrency=1 "$@"
