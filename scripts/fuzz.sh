#!/usr/bin/env bash
# Builds the query-language fuzz target (tests/fuzz/fuzz_query.c) with clang,
# libFuzzer and AddressSanitizer, and runs it for a bounded time on the seed
# inputs in tests/fuzz/corpus.  Exit status: 0 when nothing was found (or
# clang/libFuzzer are missing: the run is skipped with a note), 1 when the
# fuzzer found a crash, a leak or a broken invariant (the input is saved as
# $builddir/crash-* or leak-*; replay it with "$builddir/fuzz_query FILE").
#
#   scripts/fuzz.sh            build, then fuzz for 25 seconds
#   scripts/fuzz.sh 600        fuzz for 600 seconds
#   TDX_FUZZ_BUILDDIR=dir      build directory (default: build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-25}
builddir=${TDX_FUZZ_BUILDDIR:-build-fuzz}

if ! command -v clang >/dev/null; then
  echo "fuzz.sh: clang not found; fuzzing skipped" >&2
  exit 0
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' >"$probe/p.c"
if ! clang -fsanitize=fuzzer,address "$probe/p.c" -o "$probe/p" 2>/dev/null; then
  echo "fuzz.sh: clang has no libFuzzer (-fsanitize=fuzzer); fuzzing skipped" >&2
  exit 0
fi

# The engine with AddressSanitizer and libFuzzer's coverage instrumentation.
if [[ ! -f "$builddir/build.ninja" ]]; then
  CC=clang meson setup "$builddir" -Dtests=disabled -Dbuildtype=debugoptimized \
    -Db_sanitize=address -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link >/dev/null
fi
ninja -C "$builddir" engine/libtdxengine.a >/dev/null
# shellcheck disable=SC2046
clang -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address -Iengine \
  tests/fuzz/fuzz_query.c "$builddir/engine/libtdxengine.a" \
  $(pkg-config --libs libhs icu-uc icu-i18n lmdb jemalloc libarchive libzstd libxxhash gumbo) \
  -lpthread -lm -o "$builddir/fuzz_query"

# New inputs go to the first directory; the seeds are only read.
mkdir -p "$builddir/fuzz-corpus"
"$builddir/fuzz_query" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
  -artifact_prefix="$builddir/" -print_final_stats=1 -dict=tests/fuzz/query.dict \
  "$builddir/fuzz-corpus" tests/fuzz/corpus
