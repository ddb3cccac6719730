#!/usr/bin/env bash
# Installs what tenderidx needs to build and test, on Debian 12 (as root or
# with sudo).  Idempotent: packages already present are not touched, and the
# package lists are refreshed only when something is missing.
#
#   scripts/setup.sh            build + test dependencies
#   scripts/setup.sh --bench    also the peers the benchmarks compare against
set -euo pipefail

pkgs=(
  build-essential pkg-config meson ninja-build
  libhyperscan-dev      # Hyperscan: all watch-list patterns in one SIMD pass
  libicu-dev            # ICU: NFKC case folding, Traditional->Simplified, charsets
  liblmdb-dev           # LMDB: the index (B+tree, MVCC readers, crash safety)
  libjemalloc-dev       # jemalloc: the allocator of the executables
  libcriterion-dev      # Criterion: the unit-test framework
  libarchive-dev        # libarchive: tar/zip/7z and gz/bz2/xz/zst streams
  libzstd-dev           # zstd: compression of stored document text
  libxxhash-dev         # xxHash: content and cache-key hashes
  libgumbo-dev          # gumbo: HTML5 parsing of saved pages
  zstd xz-utils bzip2 zip # test fixtures: compressed archives are made at test time
  clang libclang-rt-14-dev # the query-parser fuzz target (libFuzzer, AddressSanitizer)
  libjansson-dev        # jansson: reference JSON parser for the reader's differential test
)
if [[ "${1:-}" == "--bench" ]]; then
  pkgs+=(ripgrep grep sqlite3 libsqlite3-dev opencc libopencc-dev gnuplot-nox hyperfine
         time jq)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
