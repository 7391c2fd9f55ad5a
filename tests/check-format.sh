#!/bin/sh
# check-format.sh: fails when a C file is not laid out as .clang-format says; skips
# (exit 77) where clang-format is missing.
if [ -z "$CLANG_FORMAT" ] || ! command -v "$CLANG_FORMAT" >/dev/null 2>&1; then
    echo "clang-format not found: skipping the format check"
    exit 77
fi
cd "${SLUICE_SRCDIR:-.}" || exit 1
bad=0
for f in $(find parser server tests -name '*.[ch]' ! -name web_assets.c); do
    if ! "$CLANG_FORMAT" --style=file "$f" | cmp -s - "$f"; then
        echo "not formatted: $f (run: clang-format -i $f)"
        bad=1
    fi
done
exit $bad
