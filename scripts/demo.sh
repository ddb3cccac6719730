#!/usr/bin/env bash
# The main job on the bundled defaults: install what is missing, build,
# generate the sample corpus of tender notices, index it against the bundled
# watch list, and ask four questions.
#
#   scripts/demo.sh            5,000 notices (about 12 MB)
#   DOCS=100000 scripts/demo.sh
#
# Everything it makes goes to demo/ (ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

builddir=${TDX_BUILDDIR:-build}
if [[ ! -f "$builddir/build.ninja" ]]; then
  meson setup "$builddir" >/dev/null
fi
meson compile -C "$builddir" >/dev/null

tdx="$builddir/tenderidx"
gen="$builddir/corpus/gen"
out=demo
docs=${DOCS:-5000}
mkdir -p "$out"

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

say "$gen --docs $docs --seed 7 --truth $out/truth.tsv -o $out/notices.jsonl"
"$gen" --docs "$docs" --seed 7 --truth "$out/truth.tsv" -o "$out/notices.jsonl"

rm -rf "$out/index.tdx"
say "$tdx index -i $out/index.tdx -p corpus/watchlist.tsv $out/notices.jsonl"
"$tdx" index -i "$out/index.tdx" -p corpus/watchlist.tsv "$out/notices.jsonl"

say "$tdx stats -i $out/index.tdx"
"$tdx" stats -i "$out/index.tdx"

q1='entity:"NVIDIA H100" AND cat:cloud AND date:2023..2024'
say "$tdx query -i $out/index.tdx --limit 10 '$q1'"
echo "# Which notices name an H100 and a cloud provider, 2023-2024?"
"$tdx" query -i "$out/index.tdx" --limit 10 "$q1"

q2='NEAR(cat:university, cat:chip, 300)'
say "$tdx query -i $out/index.tdx --snippets --limit 3 '$q2'"
echo "# Universities within 300 characters of a restricted chip, with the passages"
"$tdx" query -i "$out/index.tdx" --snippets --limit 3 "$q2"

q3='cat:chip AND (cat:cloud OR cat:intermediary)'
say "$tdx query -i $out/index.tdx --facet year --facet entity --count '$q3'"
echo "# Chips bought through a cloud provider or an import agent: how many, which years, which names"
"$tdx" query -i "$out/index.tdx" --facet year --facet entity --count "$q3" | sed -n 1,40p  # sed reads to the end: no SIGPIPE

q4='/[ah][18]00/ AND (租赁 OR 云服务)'
say "$tdx query -i $out/index.tdx --count --explain '$q4'"
echo "# Any A100, H100, A800 or H800 in a rental or cloud-service notice, and how the index answered"
"$tdx" query -i "$out/index.tdx" --count --explain "$q4" 2>&1

printf '\nIndex: %s   Corpus: %s   Ground truth: %s\n' "$out/index.tdx" "$out/notices.jsonl" \
  "$out/truth.tsv"
