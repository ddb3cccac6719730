#!/usr/bin/env bash
# Builds the fuzz targets with clang, libFuzzer and AddressSanitizer, and
# runs each for a bounded time on its seed inputs:
#   fuzz_query   the query language (tests/fuzz/fuzz_query.c, seeds tests/fuzz/corpus)
#   fuzz_reader  the reader's parsers: JSON Lines records, HTML, charsets, dates
#                (tests/fuzz/fuzz_reader.c, seeds tests/fuzz/corpus-reader)
# Exit status: 0 when nothing was found (or clang/libFuzzer are missing: the
# run is skipped with a note), 1 when a fuzzer found a crash, a leak or a
# broken invariant (the input is saved as $builddir/crash-* or leak-*; replay
# it with "$builddir/fuzz_query FILE" or "$builddir/fuzz_reader FILE").
#
#   scripts/fuzz.sh            build, then fuzz each target for 25 seconds
#   scripts/fuzz.sh 600        fuzz each target for 600 seconds
#   scripts/fuzz.sh 60 reader  one target only
#   TDX_FUZZ_BUILDDIR=dir      build directory (default: build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-25}
targets=${2:-"query reader"}
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

for t in $targets; do
  case $t in
    query) seeds=tests/fuzz/corpus; extra=(-dict=tests/fuzz/query.dict) ;;
    reader) seeds=tests/fuzz/corpus-reader; extra=() ;;
    *) echo "fuzz.sh: unknown target '$t' (query, reader)" >&2; exit 2 ;;
  esac
  # shellcheck disable=SC2046
  clang -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address -Iengine \
    "tests/fuzz/fuzz_$t.c" "$builddir/engine/libtdxengine.a" \
    $(pkg-config --libs libhs icu-uc icu-i18n lmdb jemalloc libarchive libzstd libxxhash gumbo) \
    -lpthread -lm -o "$builddir/fuzz_$t"
  # New inputs go to the first directory; the seeds are only read.
  mkdir -p "$builddir/fuzz-corpus-$t"
  "$builddir/fuzz_$t" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
    -artifact_prefix="$builddir/" -print_final_stats=1 "${extra[@]}" \
    "$builddir/fuzz-corpus-$t" "$seeds"
done
