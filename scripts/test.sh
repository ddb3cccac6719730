#!/usr/bin/env bash
# Installs what is missing, builds tenderidx with warnings as errors, runs
# the whole test suite (meson test: unit + cli suites), then fuzzes the
# query parser and the reader's parsers for a bounded time (scripts/fuzz.sh).
#
#   scripts/test.sh                  everything
#   scripts/test.sh --suite unit     only the unit suites (extra args go to meson test;
#                                    the fuzz run is skipped then)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

builddir=${TDX_BUILDDIR:-build}
if [[ ! -f "$builddir/build.ninja" ]]; then
  meson setup "$builddir" -Dwerror=true -Dtests=enabled
fi
meson compile -C "$builddir"
meson test -C "$builddir" --print-errorlogs --num-processes "$(nproc)" "$@"
if [[ $# -eq 0 ]]; then
  scripts/fuzz.sh "${TDX_FUZZ_SECONDS:-15}"
fi
