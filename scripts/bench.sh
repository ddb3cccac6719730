#!/usr/bin/env bash
# The benchmark suite of tenderidx, with its peers side by side, in one run.
#
#   scripts/bench.sh                  full run: >= 1 GB ingest corpus, 1,000,000-document
#                                     query index; writes bench/RESULTS.md and bench/plots/
#   scripts/bench.sh --quick          the same suite on a small corpus (a smoke check)
#   scripts/bench.sh --corpus PATH... [--watchlist FILE]
#                                     the same suite on your own data (any input
#                                     tenderidx reads); results stay in the --out directory
#
# What it measures (bench/README.md explains every figure and how to read the ratios):
#   ingest      MB/s and docs/s at 1..N worker threads, full and entity-only (--no-grams)
#               profiles; time per stage (--stats-json); peak RSS; index size / input size
#   patterns    ingest speed with 100, 1k, 10k, 50k watch-list patterns
#   queries     p50/p95/p99 per query class, in process, warm cache, one thread
#               (bench/bench_query), on the large index and on the ingest corpus's index
#   peers       same documents, same run: SQLite FTS5 trigram (build + the same queries),
#               bare ICU and OpenCC (normalize), bare Hyperscan, ripgrep, GNU grep (match
#               and substring search over the same normalized text)
# then prints one table of ratios (tenderidx / peer) and writes RESULTS.md and PNG plots.
#
# Method: seeded corpus and queries; a warm-up before every measured series; --runs runs;
# medians (and the best run); the machine's load recorded at every phase.
#
# Everything generated (corpora, indexes, logs) goes to --out (default bench/out/<mode>),
# which git ignores.  Benchmarks never run in scripts/test.sh; tests/test_bench.c only checks
# that --quick runs end to end on a tiny corpus.

# The whole script is one block, parsed before it runs, so that editing bench.sh during a
# (long) run cannot change what that run does.
{
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

usage() {
  cat <<'EOF'
usage: scripts/bench.sh [--quick] [--corpus PATH]... [--watchlist FILE] [--out DIR] [OPTIONS]

  --quick              small corpus, fewer queries: a smoke check (about two minutes)
  --corpus PATH        benchmark your own data (files, directories, archives; repeatable)
                       instead of the generated corpus
  --watchlist FILE     the watch list to index with (default: the bundled list plus
                       10,000 generated names)
  --out DIR            where everything goes (default bench/out/full, quick or user)
Sizes and repetitions (defaults: full / quick):
  --ingest-size SIZE   generated ingest corpus (1G / 2M)
  --query-docs N       documents of the query index (1000000 / 2000)
  --sweep-size SIZE    corpus slice for the pattern-count sweep (256M / all)
  --prose-size SIZE    `gen text` prose indexed at real text's term diversity (256M / 2M; 0: skip)
  --stages-mb N        text for the stage peers (64 / 2)
  --runs N             timed runs of every series (3 / 2)
  --nq N               queries drawn per class (1000 / 60)
  --budget S           seconds per query class and engine (60 / 6)
  --names N            generated watch-list names added to the bundled list (10000 / 1000)
Build and tools:
  --builddir DIR       use this (already built) build; without it, bench.sh installs what is
                       missing (scripts/setup.sh --bench) and builds build-rel (release)
  --gen PATH           corpus generator to use (default: BUILDDIR/corpus/gen)
  --seed S             seed of the corpus and the query draw (default 20240611)
  --no-publish         a full run writes bench/RESULTS.md and bench/plots/ unless this is given
  -h, --help
EOF
}

quick=0 publish=1
corpus=() watchlist="" out="" builddir="" gen="" seed=20240611
ingest_size="" query_docs="" sweep_size="" prose_size="" stages_mb="" runs="" nq="" budget="" names=""
while (($#)); do
  case $1 in
    --quick) quick=1 ;;
    --corpus) corpus+=("$2"); shift ;;
    --watchlist) watchlist=$2; shift ;;
    --out) out=$2; shift ;;
    --builddir) builddir=$2; shift ;;
    --gen) gen=$2; shift ;;
    --seed) seed=$2; shift ;;
    --ingest-size) ingest_size=$2; shift ;;
    --query-docs) query_docs=$2; shift ;;
    --sweep-size) sweep_size=$2; shift ;;
    --prose-size) prose_size=$2; shift ;;
    --stages-mb) stages_mb=$2; shift ;;
    --runs) runs=$2; shift ;;
    --nq) nq=$2; shift ;;
    --budget) budget=$2; shift ;;
    --names) names=$2; shift ;;
    --no-publish) publish=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

# Sizes given on the command line, for RESULTS.md (a scaled-down full run says so).
given=()
for o in ingest_size query_docs sweep_size prose_size stages_mb runs nq budget names; do
  if [[ -n ${!o} ]]; then given+=("--${o//_/-} ${!o}"); fi
done
if ((quick)); then
  mode=quick
  : "${ingest_size:=2M}" "${query_docs:=2000}" "${sweep_size:=0}" "${stages_mb:=2}" "${prose_size:=2M}"
  : "${runs:=2}" "${nq:=60}" "${budget:=6}" "${names:=1000}"
  sweep_counts=(100 1000 10000)
  rg_queries=5
else
  mode=full
  : "${ingest_size:=1G}" "${query_docs:=1000000}" "${sweep_size:=256M}" "${stages_mb:=64}" "${prose_size:=256M}"
  : "${runs:=3}" "${nq:=1000}" "${budget:=60}" "${names:=10000}"
  sweep_counts=(100 1000 10000 50000)
  rg_queries=10
fi
if ((${#corpus[@]})); then mode=user; fi
# Only a full run on the generated corpus speaks for the project.
if [[ $mode != full ]]; then publish=0; fi
: "${out:=bench/out/$mode}"

to_bytes() { # 1G, 256M, 4k, 1000 -> bytes
  local v=$1
  case $v in
    *[kK]) echo $(( ${v%?} * 1024 )) ;;
    *[mM]) echo $(( ${v%?} * 1024 * 1024 )) ;;
    *[gG]) echo $(( ${v%?} * 1024 * 1024 * 1024 )) ;;
    *) echo "$v" ;;
  esac
}
ingest_bytes=$(to_bytes "$ingest_size")
sweep_bytes=$(to_bytes "$sweep_size")
prose_bytes=$(to_bytes "$prose_size")

mkdir -p "$out"
out=$(cd "$out" && pwd)
log=$out/log
rm -rf "$log" "$out/plots"
mkdir -p "$log" "$out/plots"
: >"$out/results.tsv"
started=$EPOCHREALTIME

say() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { say "error: $*"; exit 3; }
set -E
trap 'say "error: line $LINENO: \"$BASH_COMMAND\" failed"' ERR

declare -A R
put() { R[$1]=$2; printf '%s\t%s\n' "$1" "$2" >>"$out/results.tsv"; }

# Arithmetic on decimals, through awk.
calc() { awk "BEGIN { v = $1; printf \"%.${2:-3}f\", v }"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {if (NR == 0) print 0; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
minimum() { printf '%s\n' "$@" | sort -g | head -1; }
maximum() { printf '%s\n' "$@" | sort -g | tail -1; }
elapsed() { calc "$EPOCHREALTIME - $1" 3; }
# a/b with a guard; "-" when either is missing or b is 0
ratio() { if [[ -z ${1:-} || -z ${2:-} ]]; then echo -; else awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.3g", a / b }'; fi; }
fsize() { stat -c %s "$1"; }
# A stage's seconds and the text MB per second it reaches: stage_speed TEXT_BYTES SECONDS.
stage_speed() {
  if [[ -z ${1:-} || -z ${2:-} ]]; then echo -; else echo "$2 s ($(ratio "$(calc "$1 / 1e6" 1)" "$2") MB/s)"; fi
}

load_now() { cut -d' ' -f1 /proc/loadavg; }
mark_load() { put "load.$1" "$(load_now)"; }

# ---------------------------------------------------------------- build and tools

if [[ -z $builddir ]]; then
  # Like scripts/test.sh: install what is missing (the peers too), then build.
  scripts/setup.sh --bench || die "scripts/setup.sh --bench failed"
  builddir=build-rel
  if [[ ! -f $builddir/build.ninja ]]; then
    say "configuring a release build in $builddir"
    meson setup "$builddir" --buildtype=release -Dtests=disabled >"$log/meson.txt" 2>&1 \
      || die "meson setup failed (see $log/meson.txt)"
  fi
  say "building $builddir"
  ninja -C "$builddir" >"$log/ninja.txt" 2>&1 || die "build failed (see $log/ninja.txt)"
fi
builddir=$(cd "$builddir" && pwd)
tdx=$builddir/tenderidx
bq=$builddir/bench/bench_query
bx=$builddir/bench/bench_extract
ps_=$builddir/bench/peer_stages
pf=$builddir/bench/peer_fts5
: "${gen:=$builddir/corpus/gen}"
for exe in "$tdx" "$bq" "$bx" "$ps_"; do
  [[ -x $exe ]] || die "$exe is missing: build the tree first"
done
command -v jq >/dev/null || die "jq not found: run scripts/setup.sh --bench"
buildtype=$(jq -r '.[] | select(.name == "buildtype") | .value' \
  "$builddir/meson-info/intro-buildoptions.json" 2>/dev/null || echo unknown)
put build.type "$buildtype"
[[ $buildtype == release ]] || say "note: $builddir is a '$buildtype' build: figures are not representative"

have() { command -v "$1" >/dev/null 2>&1; }
skipped=()
skip() { skipped+=("$1"); say "skipped: $1"; }
have_time=0; [[ -x /usr/bin/time ]] && have_time=1
((have_time)) || skip "/usr/bin/time (package time): peak RSS is taken from tenderidx's own figure"
have rg || skip "ripgrep (package ripgrep) not installed"
have grep || skip "GNU grep not installed"
[[ -x $pf ]] || skip "SQLite FTS5 peer: libsqlite3-dev was missing when $builddir was configured"
have gnuplot || skip "gnuplot (package gnuplot-nox) not installed: no plots"

# ---------------------------------------------------------------- machine

put machine.cpu "$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
put machine.cores "$(nproc)"
put machine.mem_gib "$(awk '/MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)"
put machine.kernel "$(uname -r)"
put machine.simd "$(grep -o -w -E 'avx2|avx512f|avx512bw' /proc/cpuinfo | sort -u | tr '\n' ' ' | sed 's/ $//')"
put run.date "$(date -u +'%Y-%m-%d %H:%M UTC')"
# The published results of an earlier run are not a change to what is measured.
put run.commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- . ':!bench/RESULTS.md' ':!bench/plots' 2>/dev/null || echo '+changes')"
put run.branch "$(git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)"
put run.mode "$mode"
put run.seed "$seed"
put run.runs "$runs"
put run.given "${given[*]}"
put run.gen "$gen"
put tool.hyperscan "$(pkg-config --modversion libhs 2>/dev/null || echo '?')"
put tool.icu "$(pkg-config --modversion icu-uc 2>/dev/null || echo '?')"
put tool.sqlite "$(pkg-config --modversion sqlite3 2>/dev/null || echo '?')"
# (sed reads all its input: a reader that stops early would fail the pipeline with SIGPIPE)
put tool.rg "$({ rg --version 2>/dev/null || echo -; } | sed -n 1p)"
put tool.grep "$({ grep --version 2>/dev/null || echo -; } | sed -n 1p)"
put tool.opencc "$({ opencc --version 2>/dev/null || echo -; } | sed -n 's/[^0-9]*\([0-9][0-9.]*\).*/\1/p' | sed -n 1p)"

# Noise: one fixed CPU-bound job, timed several times, now and at the end.  Its spread is
# what any figure of this run can be trusted to.
noise_probe() {
  local ts=() t0 i
  for ((i = 0; i < 5; i++)); do
    t0=$EPOCHREALTIME
    awk 'BEGIN { for (i = 0; i < 1000000; i++) s += i * i; if (s < 0) print s }'
    ts+=("$(elapsed "$t0")")
  done
  local med min max
  med=$(median "${ts[@]}"); min=$(minimum "${ts[@]}"); max=$(maximum "${ts[@]}")
  put "noise.$1.med_s" "$med"
  put "noise.$1.spread" "$(calc "($max - $min) / $med * 100" 0)"
}
mark_load start
noise_probe start
say "machine: ${R[machine.cpu]:-}, ${R[machine.cores]:-} cores, load ${R[load.start]:-}, noise spread ${R[noise.start.spread]:-}%"

# ---------------------------------------------------------------- watch lists

wl_dir=$out/watchlists
mkdir -p "$wl_dir"
have_wlgen=0
if "$gen" watchlist --names 1 --seed 1 >/dev/null 2>&1; then have_wlgen=1; fi
if ((have_wlgen)); then
  # One generated list; its first rows are the smaller lists (the generator is a
  # prefix-stable stream per seed), so every list is a prefix of the next.
  max_count=${sweep_counts[-1]}
  gen_names=$(( max_count / 2 > names ? max_count / 2 : names ))
  "$gen" watchlist --names "$gen_names" --seed "$seed" -o "$wl_dir/generated.tsv"
  grep -v '^#' "$wl_dir/generated.tsv" >"$wl_dir/generated.rows"
  gen_rows=$(wc -l <"$wl_dir/generated.rows")
else
  skip "the corpus generator has no 'watchlist' command ($gen): the bundled list alone is used and the pattern-count sweep is not run (pass --gen with a generator that has it)"
fi
rows_of_names() { # first rows covering N entities
  awk -F'\t' -v n="$1" '!seen[$1]++ { if (++k > n) exit } { print }' "$wl_dir/generated.rows"
}
if [[ -n $watchlist ]]; then
  main_list=$(cd "$(dirname "$watchlist")" && pwd)/$(basename "$watchlist")
  put list.desc "$(basename "$watchlist")"
elif ((have_wlgen)); then
  main_list=$wl_dir/main.tsv
  { cat corpus/watchlist.tsv; rows_of_names "$names"; } >"$main_list"
  put list.desc "bundled corpus/watchlist.tsv + $names generated names"
else
  main_list=$ROOT/corpus/watchlist.tsv
  put list.desc "bundled corpus/watchlist.tsv"
fi
put list.patterns "$(grep -v -c -E '^[[:space:]]*(#|$)' "$main_list")"
"$tdx" watchlist check --json "$main_list" >"$log/watchlist.json" 2>"$log/watchlist.err" || true
say "watch list: ${R[list.desc]:-}, ${R[list.patterns]:-} patterns"

# ---------------------------------------------------------------- corpus

corpus_dir=$out/corpus
mkdir -p "$corpus_dir"
part_a=() part_all=() A="" B=""
if ((${#corpus[@]})); then
  for p in "${corpus[@]}"; do
    [[ -e $p ]] || die "cannot read '$p'"
    part_a+=("$(cd "$(dirname "$p")" && pwd)/$(basename "$p")")
  done
  part_all=("${part_a[@]}")
  put corpus.desc "user data: ${corpus[*]}"
  put corpus.a_bytes "$(du -sbL "${part_a[@]}" | awk '{s += $1} END {print s}')"
else
  # Part A is the ingest corpus; part B continues the same notice stream up to the
  # query index's size, so the query index is A + B and A's index shares A's doc ids.
  A=$corpus_dir/a.jsonl B=$corpus_dir/b.jsonl
  plant=$main_list
  key="$seed $ingest_bytes $query_docs $(md5sum <"$plant" | cut -c1-16) $(md5sum <"$gen" | cut -c1-16)"
  if [[ -f $corpus_dir/key && $(cat "$corpus_dir/key") == "$key" ]]; then
    say "corpus: reusing $corpus_dir"
  else
    rm -f "$corpus_dir"/*
    t0=$EPOCHREALTIME
    say "corpus: generating $ingest_size of notices (part A)"
    "$gen" -q --bytes "$ingest_bytes" --seed "$seed" -w "$plant" -o "$A" \
      || die "corpus generation failed"
    na=$(wc -l <"$A")
    if ((query_docs > na)); then
      say "corpus: generating $((query_docs - na)) more notices (part B)"
      "$gen" -q --first "$na" --docs "$((query_docs - na))" --seed "$seed" -w "$plant" -o "$B" \
        || die "corpus generation failed"
    fi
    put corpus.gen_s "$(elapsed "$t0")"
    echo "$key" >"$corpus_dir/key"
  fi
  part_a=("$A")
  part_all=("$A")
  [[ -f $B ]] && part_all+=("$B")
  put corpus.desc "generated: corpus/gen --seed $seed, notices planted from the watch list"
  put corpus.a_bytes "$(fsize "$A")"
fi
put corpus.a_mb "$(calc "${R[corpus.a_bytes]:-} / 1e6" 1)"
cat "${part_all[@]}" >/dev/null 2>&1 || true # page cache: every run reads warm input

# ---------------------------------------------------------------- ingest

cache=$out/hscache
idx_dir=$out/idx
mkdir -p "$idx_dir"

# Compiled watch lists: the run starts with an empty cache; the first warm-up compiles the
# main list and every timed run loads it.  Each sweep list gets a cache of its own, so its
# warm-up compiles it cold (the figure reported) and its timed runs load it.
rm -rf "$cache"
mkdir -p "$cache"
run_cache=$cache

# One indexing run: profile (full|entity), threads, index dir, list, inputs...
# Sets run_wall run_cpu run_pct run_rss_kb and leaves the stats in $run_stats.
run_index() {
  local prof=$1 threads=$2 idx=$3 list=$4 tag=$5
  shift 5
  local extra=() rc=0
  [[ $prof == entity ]] && extra+=(--no-grams)
  rm -rf "$idx"
  run_stats=$log/$tag.stats.json
  local tf=$log/$tag.time
  local t0=$EPOCHREALTIME
  if ((have_time)); then
    /usr/bin/time -f '%e %U %S %P %M' -o "$tf" "${run_pin[@]}" "$tdx" index -q -j "$threads" "${extra[@]}" \
      --cache-dir "$run_cache" --stats-json "$run_stats" -i "$idx" -p "$list" "$@" \
      >"$log/$tag.out" 2>"$log/$tag.err" || rc=$?
  else
    "${run_pin[@]}" "$tdx" index -q -j "$threads" "${extra[@]}" --cache-dir "$run_cache" --stats-json "$run_stats" \
      -i "$idx" -p "$list" "$@" >"$log/$tag.out" 2>"$log/$tag.err" || rc=$?
  fi
  run_wall=$(elapsed "$t0")
  ((rc <= 1)) || die "tenderidx index failed ($rc): see $log/$tag.err"
  if ((have_time)); then
    read -r _ u s pct rss <"$tf"
    run_cpu=$(calc "$u + $s" 2)
    run_pct=${pct%\%}
    run_rss_kb=$rss
  else
    run_cpu=$(jq -r '.seconds' "$run_stats")
    run_pct=-
    run_rss_kb=$(jq -r '(.peak_rss / 1024 | floor)' "$run_stats")
  fi
}

# A command put before tenderidx (taskset for the one-core runs), or nothing.
run_pin=()
stage_names=(read normalize match terms compress write merge)
mapfile -t threads_list < <(seq 1 "$(nproc)")
ingest_inputs_bytes=${R[corpus.a_bytes]:-}
# A small prefix for warm-ups: code paths, the compiled watch list, the file cache.
warm_input=$corpus_dir/warm.jsonl
if ((${#corpus[@]} == 0)); then
  head -n 200 "$A" >"$warm_input"
  warm=("$warm_input")
else
  warm=("${part_a[@]}")
fi

# One measured series: --runs timed runs of the same indexing job (after the caller's
# warm-up), their figures put under key K.  in_bytes is the inputs' size on disk.
#   measure_series K IN_BYTES PROFILE THREADS INDEX TAG INPUTS...
measure_series() {
  local k=$1 in_bytes=$2 prof=$3 t=$4 idx=$5 tag=$6
  shift 6
  local walls=() cpus=() pcts=() rsss=() r s docs text
  local -A st=()
  for ((r = 1; r <= runs; r++)); do
    run_index "$prof" "$t" "$idx" "$main_list" "$tag-$r" "$@"
    walls+=("$run_wall"); cpus+=("$run_cpu"); pcts+=("$run_pct"); rsss+=("$run_rss_kb")
    for s in "${stage_names[@]}"; do st[$s]+=" $(jq -r ".stages.$s" "$run_stats")"; done
  done
  docs=$(jq -r '.added' "$run_stats")
  text=$(jq -r '.bytes_read' "$run_stats")
  put "$k.docs" "$docs"
  put "$k.text_bytes" "$text"
  put "$k.wall_med" "$(median "${walls[@]}")"
  put "$k.wall_min" "$(minimum "${walls[@]}")"
  put "$k.cpu_med" "$(median "${cpus[@]}")"
  put "$k.cpu_pct" "$(median "${pcts[@]}")"
  put "$k.rss_mib" "$(calc "$(maximum "${rsss[@]}") / 1024" 0)"
  put "$k.inflight_mib" "$(jq -r '.peak_inflight / 1048576 | floor' "$run_stats")"
  put "$k.mbps_med" "$(calc "$in_bytes / 1e6 / ${R[$k.wall_med]:-}" 1)"
  put "$k.mbps_best" "$(calc "$in_bytes / 1e6 / ${R[$k.wall_min]:-}" 1)"
  put "$k.text_mbps_med" "$(calc "$text / 1e6 / ${R[$k.wall_med]:-}" 1)"
  put "$k.mbps_cpu" "$(calc "$in_bytes / 1e6 / ${R[$k.cpu_med]:-}" 1)"
  put "$k.docs_s" "$(calc "$docs / ${R[$k.wall_med]:-}" 0)"
  for s in "${stage_names[@]}"; do
    # shellcheck disable=SC2086
    put "$k.stage.$s" "$(median ${st[$s]})"
  done
  "$tdx" stats --json -i "$idx" >"$log/$k.index.json"
  put "$k.index_bytes" "$(jq -r '.index_bytes' "$log/$k.index.json")"
  put "$k.size_ratio" "$(calc "${R[$k.index_bytes]:-} / $in_bytes" 3)"
  put "$k.size_ratio_text" "$(calc "${R[$k.index_bytes]:-} / $text" 3)"
  say "  ${R[$k.mbps_med]:-} MB/s median (${R[$k.mbps_best]:-} best), ${R[$k.mbps_cpu]:-} MB per CPU-second, ${R[$k.rss_mib]:-} MiB peak RSS, index ${R[$k.size_ratio]:-} x its input"
}

mark_load ingest
for prof in full entity; do
  for t in "${threads_list[@]}"; do
    say "ingest: $prof profile, $t worker thread(s), $runs runs"
    run_index "$prof" "$t" "$idx_dir/warm" "$main_list" "ingest-$prof-$t-warm" "${warm[@]}"
    measure_series "ingest.$prof.$t" "$ingest_inputs_bytes" "$prof" "$t" "$idx_dir/ingest" \
      "ingest-$prof-$t" "${part_a[@]}"
    if [[ $prof == full && $t == "${threads_list[-1]}" ]]; then
      rm -rf "$idx_dir/a"
      mv "$idx_dir/ingest" "$idx_dir/a"
    fi
  done
done
rm -rf "$idx_dir/ingest" "$idx_dir/warm"
t1=${threads_list[0]} tn=${threads_list[-1]}
for prof in full entity; do
  put "ingest.$prof.scaling" "$(ratio "${R[ingest.$prof.$t1.wall_med]:-}" "${R[ingest.$prof.$tn.wall_med]:-}")"
done
# One core against all of them.  A 1-worker run is not one thread: the
# reader and the writer run beside the worker, on the other core (about
# 125% CPU), so the ratio above understates what more cores give.  The
# same 1-worker run pinned to one core is the one-thread baseline.  Each
# pinned run is paired with an all-core run right after it, and the ratio
# is the median of the pairs' ratios: a shared machine's load drifts over
# minutes, and runs taken apart would measure the drift.
# A pair counts only when each of its runs used about the CPU time of its
# unpinned series above (at most CPU_DISTURBED times it): the same work
# taking more CPU means the host took part of the core (another tenant, a
# neighbour's cache), and a pinned run slowed that way once read as more
# than 2x on 2 cores.
CPU_DISTURBED=1.15
if ((tn > 1)) && command -v taskset >/dev/null; then
  for prof in full entity; do
    say "ingest: $prof profile, 1 worker pinned to one core beside $tn workers on $tn cores, $runs pairs"
    walls=() pairs=() alls=() clean=() cpus=()
    base1=${R[ingest.$prof.$t1.cpu_med]:-} basen=${R[ingest.$prof.$tn.cpu_med]:-}
    for ((r = 1; r <= runs; r++)); do
      run_pin=(taskset -c 0)
      run_index "$prof" 1 "$idx_dir/ingest" "$main_list" "ingest-$prof-core1-$r" "${part_a[@]}"
      walls+=("$run_wall")
      one_wall=$run_wall one_cpu=$run_cpu one_pct=$run_pct
      run_pin=()
      run_index "$prof" "$tn" "$idx_dir/ingest" "$main_list" "ingest-$prof-core$tn-$r" "${part_a[@]}"
      alls+=("$run_wall")
      pair=$(ratio "$one_wall" "$run_wall") ok=1
      if [[ $one_pct != - && -n $base1 && -n $basen ]]; then
        c1=$(calc "$one_cpu / $base1" 2) cn=$(calc "$run_cpu / $basen" 2)
        cpus+=("$c1/$cn")
        awk -v a="$c1" -v b="$cn" -v l="$CPU_DISTURBED" 'BEGIN { exit !(a <= l && b <= l) }' || ok=0
      fi
      if ((ok)); then
        clean+=("$pair")
        pairs+=("$pair")
      else
        pairs+=("$pair*")
      fi
    done
    put "ingest.$prof.core1.wall_med" "$(median "${walls[@]}")"
    put "ingest.$prof.coren.wall_med" "$(median "${alls[@]}")"
    if ((${#clean[@]})); then
      put "ingest.$prof.core_scaling" "$(median "${clean[@]}")"
    else
      put "ingest.$prof.core_scaling" "-"
    fi
    put "ingest.$prof.core_scaling_pairs" "${pairs[*]}"
    put "ingest.$prof.core_scaling_clean" "${#clean[@]}"
    put "ingest.$prof.core_scaling_cpu" "${cpus[*]:-}"
    say "  pinned / all cores, pair by pair: ${pairs[*]} (* = a run took over $CPU_DISTURBED x its series' CPU: left out; CPU against the series: ${cpus[*]:-not timed})"
  done
  rm -rf "$idx_dir/ingest"
fi

# ---------------------------------------------------------------- pattern-count sweep

mark_load sweep
if ((have_wlgen)); then
  sweep_input=("${part_a[@]}")
  if [[ -n $A ]] && ((sweep_bytes > 0 && sweep_bytes < $(fsize "$A"))); then
    lines=$(awk -v want="$sweep_bytes" '{ n += length($0) + 1 } n >= want { print NR; exit }' "$A")
    head -n "$lines" "$A" >"$corpus_dir/sweep.jsonl"
    sweep_input=("$corpus_dir/sweep.jsonl")
  fi
  sweep_in_bytes=$(du -sbL "${sweep_input[@]}" | awk '{s += $1} END {print s}')
  put sweep.mb "$(calc "$sweep_in_bytes / 1e6" 1)"
  for n in "${sweep_counts[@]}"; do
    if ((n > gen_rows)); then
      skip "pattern sweep at $n: the generated list has only $gen_rows rows"
      continue
    fi
    list=$wl_dir/sweep-$n.tsv
    { echo "# first $n rows of generated.tsv"; head -n "$n" "$wl_dir/generated.rows"; } >"$list"
    say "patterns: $n, entity-only profile, 1 worker thread, $runs runs"
    # The warm-up compiles the list cold into its own cache: its compile time is recorded.
    run_cache=$cache/sweep-$n
    mkdir -p "$run_cache"
    run_index entity 1 "$idx_dir/sweep" "$list" "sweep-$n-warm" "${sweep_input[@]}"
    [[ $(jq -r '.compile_from_cache' "$run_stats") == false ]] || die "the sweep's warm-up did not compile cold"
    put "sweep.$n.compile_ms" "$(jq -r '.compile_ms' "$run_stats")"
    walls=() cpus=() matches=()
    for ((r = 1; r <= runs; r++)); do
      run_index entity 1 "$idx_dir/sweep" "$list" "sweep-$n-$r" "${sweep_input[@]}"
      walls+=("$run_wall"); cpus+=("$run_cpu"); matches+=("$(jq -r '.stages.match' "$run_stats")")
    done
    put "sweep.$n.hits" "$(jq -r '.hits' "$run_stats")"
    put "sweep.$n.mbps_med" "$(calc "$sweep_in_bytes / 1e6 / $(median "${walls[@]}")" 1)"
    put "sweep.$n.mbps_best" "$(calc "$sweep_in_bytes / 1e6 / $(minimum "${walls[@]}")" 1)"
    put "sweep.$n.mbps_cpu" "$(calc "$sweep_in_bytes / 1e6 / $(median "${cpus[@]}")" 1)"
    put "sweep.$n.match_s" "$(median "${matches[@]}")"
    put "sweep.$n.match_mbps" "$(calc "$(jq -r '.bytes_read' "$run_stats") / 1e6 / ${R[sweep.$n.match_s]:-}" 1)"
    put "sweep.$n.rss_mib" "$(calc "$run_rss_kb / 1024" 0)"
    say "  ${R[sweep.$n.mbps_med]:-} MB/s, match stage ${R[sweep.$n.match_mbps]:-} MB/s, compile ${R[sweep.$n.compile_ms]:-} ms"
  done
  rm -rf "$idx_dir/sweep"
  run_cache=$cache
fi

# ---------------------------------------------------------------- prose
# Generated notices repeat a grammar's phrases: a gigabyte of them holds about 15,000
# distinct bigrams, where a few megabytes of prose hold hundreds of thousands.  A batch's
# postings have a list per distinct term, and the writer and the merge pay per list, so
# the full profile is run again, one worker, on `gen text` prose (Zipf characters and
# words: the term diversity of real text, not its language).
mark_load prose
if ((${#corpus[@]} == 0 && prose_bytes > 0)) && "$gen" text --docs 1 >/dev/null 2>&1; then
  prose=$corpus_dir/prose.jsonl
  "$gen" text --bytes "$prose_bytes" --seed "$seed" -o "$prose" || die "prose generation failed"
  prose_in=$(fsize "$prose")
  put prose.mb "$(calc "$prose_in / 1e6" 1)"
  say "prose: full profile, 1 worker thread, $runs runs on ${R[prose.mb]:-} MB of gen text"
  run_index full 1 "$idx_dir/prose" "$main_list" "prose-warm" "$prose"
  measure_series prose "$prose_in" full 1 "$idx_dir/prose" prose "$prose"
  rm -rf "$idx_dir/prose"
elif ((${#corpus[@]} == 0 && prose_bytes > 0)); then
  skip "the corpus generator has no 'text' command ($gen): prose is not indexed"
fi

# ---------------------------------------------------------------- the query index

mark_load query_index
idx_a=$idx_dir/a
idx_all=$idx_a
if ((${#part_all[@]} > ${#part_a[@]})); then
  say "query index: full profile, $tn worker threads, $(du -cbL "${part_all[@]}" | tail -1 | cut -f1) bytes"
  run_index full "$tn" "$idx_dir/all" "$main_list" query-index "${part_all[@]}"
  idx_all=$idx_dir/all
  all_bytes=$(du -cbL "${part_all[@]}" | tail -1 | cut -f1)
  put qindex.mbps "$(calc "$all_bytes / 1e6 / $run_wall" 1)"
  put qindex.wall "$run_wall"
  put qindex.rss_mib "$(calc "$run_rss_kb / 1024" 0)"
  put qindex.inflight_mib "$(jq -r '.peak_inflight / 1048576 | floor' "$run_stats")"
  put qindex.input_bytes "$all_bytes"
fi
"$tdx" stats --json -i "$idx_all" >"$log/qindex.json"
put qindex.docs "$(jq -r '.documents' "$log/qindex.json")"
put qindex.index_bytes "$(jq -r '.index_bytes' "$log/qindex.json")"
"$tdx" stats --json -i "$idx_a" >"$log/aindex.json"
put aindex.docs "$(jq -r '.documents' "$log/aindex.json")"

# ---------------------------------------------------------------- adding a month

# 2,000 notices past the query index's last, added to a copy of it (the
# default run: a small run leaves its postings as pending segments), then
# folded in by `index -i INDEX --merge` alone (which rewrites the whole
# postings tree).
if ((${#corpus[@]} == 0)); then
  mark_load incremental
  inc_in=$idx_dir/month.jsonl inc_idx=$idx_dir/inc
  "$gen" -q --first "${R[qindex.docs]}" --docs 2000 --seed "$seed" -w "$plant" -o "$inc_in" \
    || die "corpus generation failed (incremental)"
  rm -rf "$inc_idx"
  cp -r "$idx_all" "$inc_idx"
  # The copy's pages are still dirty in the page cache; the add's first
  # commit (an fdatasync of the index file) would write all 3 GB of them and
  # time that: 2.1 s instead of 0.3-0.5 s.  An archive's index is on disk.
  sync
  say "incremental: 2,000 notices into a copy of the query index"
  for step in add merge; do
    # The add reads the month; the merge (--merge alone) reads nothing.
    args=(--cache-dir "$run_cache" -p "$main_list" "$inc_in")
    [[ $step == merge ]] && args=(--merge)
    rc=0 t0=$EPOCHREALTIME
    "$tdx" index -q --stats-json "$log/inc-$step.stats.json" -i "$inc_idx" "${args[@]}" \
      >"$log/inc-$step.out" 2>"$log/inc-$step.err" || rc=$?
    ((rc <= 1)) || die "tenderidx index failed ($rc): see $log/inc-$step.err"
    put "inc.$step.s" "$(elapsed "$t0")"
    put "inc.$step.pending" "$(jq -r '.segments_pending' "$log/inc-$step.stats.json")"
  done
  put inc.added "$(jq -r '.added' "$log/inc-add.stats.json")"
  say "  added ${R[inc.added]:-} in ${R[inc.add.s]:-} s (${R[inc.add.pending]:-} segments pending), --merge ${R[inc.merge.s]:-} s"
  rm -rf "$inc_idx" "$inc_in"
fi

# ---------------------------------------------------------------- queries

parse_query_lines() { # prefix file: QUERY lines -> prefix.class.field
  local prefix=$1 file=$2 line kv cls
  while read -r line; do
    [[ $line == QUERY* ]] || continue
    cls=$(sed -n 's/.* class=\([^ ]*\).*/\1/p' <<<"$line")
    for kv in $line; do
      [[ $kv == *=* ]] || continue
      case ${kv%%=*} in engine|class) continue ;; esac
      put "$prefix.$cls.${kv%%=*}" "${kv#*=}"
    done
  done <"$file"
}
classes=(entity cat and2 sub20 subcount facet)
qset=$out/queries.tsv
mark_load queries
say "queries: drawing $nq per class from the ingest corpus's index (${R[aindex.docs]:-} docs), $runs runs"
"$bq" -i "$idx_a" -p "$main_list" --n "$nq" --runs "$runs" --budget "$budget" --seed "$seed" \
  --emit "$qset" --lat "$out/lat-tdx-a.tsv" >"$log/query-a.out" 2>"$log/query-a.err" \
  || die "bench_query failed: see $log/query-a.err"
parse_query_lines qa "$log/query-a.out"
if [[ $idx_all != "$idx_a" ]]; then
  say "queries: the same set on the query index (${R[qindex.docs]:-} docs)"
  "$bq" -i "$idx_all" -p "$main_list" --queries "$qset" --runs "$runs" --budget "$budget" \
    --lat "$out/lat-tdx-all.tsv" >"$log/query-all.out" 2>"$log/query-all.err" \
    || die "bench_query failed: see $log/query-all.err"
  parse_query_lines qall "$log/query-all.out"
else
  for c in "${classes[@]}"; do
    for f in queries of p50_ms p95_ms p99_ms max_ms mean_ms; do put "qall.$c.$f" "${R[qa.$c.$f]:-}"; done
  done
fi

# ---------------------------------------------------------------- plain text for the peers

mark_load extract
say "peers: extracting normalized text of the ingest corpus"
"$bx" --text "$corpus_dir/a.txt" --meta "$corpus_dir/a.meta" "${part_a[@]}" >"$log/extract.out" \
  2>"$log/extract.err" || die "bench_extract failed: see $log/extract.err"
for kv in $(sed -n 's/^EXTRACT //p' "$log/extract.out"); do put "extract.${kv%%=*}" "${kv#*=}"; done
a_txt=$corpus_dir/a.txt

# ---------------------------------------------------------------- SQLite FTS5

if [[ -x $pf ]]; then
  mark_load fts5
  fdb=$idx_dir/a.fts5
  rm -f "$fdb"
  say "peers: SQLite FTS5 trigram index of the same ${R[extract.docs]:-} documents"
  "$pf" --db "$fdb" --build "$a_txt" "$corpus_dir/a.meta" --optimize >"$log/fts5-build.out" \
    2>"$log/fts5-build.err" || die "peer_fts5 failed: see $log/fts5-build.err"
  for kv in $(sed -n 's/^FTS5BUILD //p;s/^FTS5OPT /opt_/p' "$log/fts5-build.out"); do
    put "fts5.${kv%%=*}" "${kv#*=}"
  done
  put fts5.total_s "$(calc "${R[fts5.seconds]:-} + ${R[fts5.opt_seconds]:-}" 3)"
  put fts5.docs_s "$(calc "${R[fts5.docs]:-} / ${R[fts5.seconds]:-}" 0)"
  put fts5.mbps "$(calc "$ingest_inputs_bytes / 1e6 / ${R[fts5.seconds]:-}" 2)"
  say "  built in ${R[fts5.seconds]:-} s (+ ${R[fts5.opt_seconds]:-} s optimize), ${R[fts5.docs_s]:-} docs/s"
  # Class by class, tenderidx on A's index then FTS5, so that both engines of
  # a class run minutes apart at most: on a shared machine the load changes
  # over a run, and a ratio is only as good as the two sides' conditions.
  # tenderidx's figures on A are replaced by these; the lat files keep each
  # query's index in the whole set.
  say "peers: SQLite FTS5 and tenderidx, the same queries, class by class in turn"
  : >"$out/lat-tdx-a.tsv"
  : >"$out/lat-fts5.tsv"
  : >"$log/query-a.out"
  : >"$log/query-fts5.out"
  for c in "${classes[@]}"; do
    cq=$out/queries.$c
    awk -F'\t' -v c="$c" '/^#/ { print; next } $1 == c' "$qset" >"$cq.tsv"
    awk -F'\t' -v c="$c" '/^#/ { next } { i++ } $1 == c { print i - 1 }' "$qset" >"$cq.idx"
    [[ -s $cq.idx ]] || continue
    "$bq" -i "$idx_a" -p "$main_list" --queries "$cq.tsv" --runs "$runs" --budget "$budget" \
      --lat "$cq.lat-tdx" >>"$log/query-a.out" 2>>"$log/query-a.err" \
      || die "bench_query failed: see $log/query-a.err"
    "$pf" --db "$fdb" --queries "$cq.tsv" --runs "$runs" --budget "$budget" --lat "$cq.lat-fts" \
      >>"$log/query-fts5.out" 2>>"$log/query-fts5.err" || die "peer_fts5 failed: see $log/query-fts5.err"
    for e in tdx:lat-tdx-a fts:lat-fts5; do
      awk -F'\t' -v OFS='\t' 'FNR == NR { g[FNR - 1] = $1; next } { $2 = g[$2]; print }' \
        "$cq.idx" "$cq.lat-${e%%:*}" >>"$out/${e#*:}.tsv"
    done
    rm -f "$cq.tsv" "$cq.idx" "$cq.lat-tdx" "$cq.lat-fts"
  done
  parse_query_lines qa "$log/query-a.out"
  parse_query_lines fts "$log/query-fts5.out"
  # Query by query on the queries both engines ran: p50 and p99 of each side,
  # the share of queries tenderidx answers at least twice as fast, and how many
  # answers agree (entity answers differ where the boundary rule applies).
  awk -F'\t' '
    function pct(arr, n, p,   i, j, t, r) {
      for (i = 2; i <= n; i++) { t = arr[i]; j = i - 1; while (j >= 1 && arr[j] > t) { arr[j + 1] = arr[j]; j-- } arr[j + 1] = t }
      r = int(p / 100 * n + 0.999999); if (r < 1) r = 1; if (r > n) r = n; return arr[r]
    }
    FNR == NR { ms[$2] = $3; cnt[$2] = $4; next }
    ($2 in ms) { c = $1; n[c]++; a[c, n[c]] = ms[$2]; b[c, n[c]] = $3
                 if ($3 >= 2 * ms[$2]) fast[c]++
                 if ($4 == cnt[$2]) agree[c]++ }
    END {
      for (c in n) {
        delete x; delete y
        for (i = 1; i <= n[c]; i++) { x[i] = a[c, i]; y[i] = b[c, i] }
        p50t = pct(x, n[c], 50); p99t = pct(x, n[c], 99)
        p50f = pct(y, n[c], 50); p99f = pct(y, n[c], 99)
        printf "%s\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%d\t%d\n", c, n[c], p50t, p99t, p50f, p99f, fast[c] + 0, agree[c] + 0
      }
    }' "$out/lat-tdx-a.tsv" "$out/lat-fts5.tsv" >"$out/cmp-fts5.tsv"
  while IFS=$'\t' read -r c n p50t p99t p50f p99f fast agree; do
    put "cmp.$c.n" "$n"; put "cmp.$c.tdx_p50" "$p50t"; put "cmp.$c.tdx_p99" "$p99t"
    put "cmp.$c.fts_p50" "$p50f"; put "cmp.$c.fts_p99" "$p99f"
    put "cmp.$c.fast2x" "$fast"; put "cmp.$c.agree" "$agree"
  done <"$out/cmp-fts5.tsv"
fi

# ---------------------------------------------------------------- stage peers

mark_load stages
say "peers: normalize, match and compress stages beside ICU, OpenCC, Hyperscan, zstd ($stages_mb MB)"
"$ps_" -p "$main_list" --mb "$stages_mb" --runs "$runs" --norm-out "$corpus_dir/stages.txt" \
  --lits-out "$wl_dir/literals.txt" "${part_a[@]}" >"$log/stages.out" 2>"$log/stages.err" \
  || die "peer_stages failed: see $log/stages.err"
while read -r tag rest; do
  case $tag in
    STAGE)
      s=$(sed -n 's/.*stage=\([^ ]*\).*/\1/p' <<<"$rest")
      c=$(sed -n 's/.*contender=\([^ ]*\).*/\1/p' <<<"$rest")
      for kv in $rest; do
        case ${kv%%=*} in mbps_med|mbps_best|mb|checksum) put "stage.$s.$c.${kv%%=*}" "${kv#*=}" ;; esac
      done ;;
    STAGEINFO) for kv in $rest; do put "stageinfo.${kv%%=*}" "${kv#*=}"; done ;;
  esac
done <"$log/stages.out"

# ripgrep and GNU grep: the watch list's literals over the same normalized text, and
# single substrings (the subcount queries) over the whole ingest corpus's text.
# time_cmd NAME CMD...: a warm-up, then $runs runs; NAME.med / NAME.min seconds, and
# the command's output of the last run in $log/NAME.out.
time_cmd() {
  local name=$1 ts=() t0 i rc
  shift
  "$@" >"$log/$name.out" 2>"$log/$name.err" || { rc=$?; ((rc == 1)) || die "$* failed ($rc)"; }
  for ((i = 0; i < runs; i++)); do
    t0=$EPOCHREALTIME
    "$@" >"$log/$name.out" 2>"$log/$name.err" || { rc=$?; ((rc == 1)) || die "$* failed ($rc)"; }
    ts+=("$(elapsed "$t0")")
  done
  put "$name.med" "$(median "${ts[@]}")"
  put "$name.min" "$(minimum "${ts[@]}")"
}
mark_load grep
stages_txt=$corpus_dir/stages.txt
stages_txt_mb=$(calc "$(fsize "$stages_txt") / 1e6" 2)
put scan.mb "$stages_txt_mb"
put scan.literals "$(wc -l <"$wl_dir/literals.txt")"
for tool in rg grep; do
  have "$tool" || continue
  say "peers: $tool, ${R[scan.literals]:-} literals over $stages_txt_mb MB of normalized text"
  if [[ $tool == rg ]]; then
    time_cmd "scan.rg" rg -F -c -f "$wl_dir/literals.txt" "$stages_txt"
  else
    time_cmd "scan.grep" env LC_ALL=C grep -F -c -f "$wl_dir/literals.txt" "$stages_txt"
  fi
  put "scan.$tool.mbps" "$(calc "$stages_txt_mb / ${R[scan.$tool.med]:-}" 1)"
  put "scan.$tool.lines" "$(head -1 "$log/scan.$tool.out")"
done

# Substrings: the first subcount queries tenderidx ran within its budget.
mapfile -t subq < <(awk -F'\t' -v k="$rg_queries" '
  FNR == NR { if ($1 == "subcount") ran[$2] = 1; next }
  /^#/ { next }
  { i++ }
  $1 == "subcount" && (i - 1) in ran && n++ < k { print i - 1 "\t" substr($3, 2, length($3) - 2) }' \
  "$out/lat-tdx-a.tsv" "$qset")
for tool in rg grep; do
  have "$tool" || continue
  say "peers: $tool, ${#subq[@]} substring counts over the ingest corpus's text"
  meds=() tdxs=() agree=0 n=0
  for row in "${subq[@]}"; do
    qi=${row%%$'\t'*} s=${row#*$'\t'}
    if [[ $tool == rg ]]; then
      time_cmd "sub.rg" rg -F -c -- "$s" "$a_txt"
    else
      time_cmd "sub.grep" env LC_ALL=C grep -F -c -- "$s" "$a_txt"
    fi
    want=$(awk -F'\t' -v i="$qi" '$2 == i { print $3 "\t" $4 }' "$out/lat-tdx-a.tsv")
    [[ -n $want ]] || continue
    n=$((n + 1))
    meds+=("$(calc "${R[sub.$tool.med]:-} * 1000" 3)")
    tdxs+=("${want%%$'\t'*}")
    if [[ $(head -1 "$log/sub.$tool.out") == "${want#*$'\t'}" ]]; then agree=$((agree + 1)); fi
  done
  put "sub.$tool.n" "$n"
  put "sub.$tool.agree" "$agree"
  if ((n)); then
    put "sub.$tool.ms_med" "$(median "${meds[@]}")"
    put "sub.$tool.tdx_ms_med" "$(median "${tdxs[@]}")"
  fi
done

# ---------------------------------------------------------------- the stage benchmarks of the modules

for prog in bench_normalize bench_match bench_postings; do
  exe=$builddir/bench/$prog
  if [[ -x $exe ]]; then
    say "module benchmark: $prog"
    args=()
    if ((quick)); then args=(--quick); fi
    # The terms stage runs on the ingest corpus's own normalized text.
    if [[ $prog == bench_postings && -s $a_txt ]]; then
      args+=(--text "$a_txt" --mb "$stages_mb" --runs "$runs")
    fi
    timeout 900 "$exe" "${args[@]}" >"$log/$prog.out" 2>&1 || say "  $prog failed or timed out: see $log/$prog.out"
  else
    skip "$prog is not in this tree"
  fi
done

mark_load end
noise_probe end
put run.minutes "$(calc "($EPOCHREALTIME - $started) / 60" 1)"

# ---------------------------------------------------------------- ratios

# A row: what, tenderidx figure, peer figure, ratio as "how many times better
# tenderidx is" (>1: tenderidx ahead), and the target when there is one.
ratio_rows=()
rrow() { ratio_rows+=("$1|$2|$3|$4|${5:-}"); put "ratio.$6" "$4"; }
inv() { ratio "$2" "$1"; } # peer time / tenderidx time

full1=ingest.full.$t1
if [[ -n ${R[fts5.docs_s]:-} ]]; then
  rrow "index build, docs/s: tenderidx full 1 thread / FTS5" "${R[$full1.docs_s]:-}" \
    "${R[fts5.docs_s]:-}" "$(ratio "${R[$full1.docs_s]:-}" "${R[fts5.docs_s]:-}")" ">= 30" build
  rrow "index size: FTS5 / tenderidx full" "${R[$full1.index_bytes]:-}" "${R[fts5.db_bytes]:-}" \
    "$(ratio "${R[fts5.db_bytes]:-}" "${R[$full1.index_bytes]:-}")" "" size
  for c in "${classes[@]}"; do
    [[ -n ${R[cmp.$c.n]:-} ]] || continue
    rrow "query $c p50 ms (FTS5 / tenderidx, ${R[cmp.$c.n]:-} queries)" "${R[cmp.$c.tdx_p50]:-}" \
      "${R[cmp.$c.fts_p50]:-}" "$(inv "${R[cmp.$c.tdx_p50]:-}" "${R[cmp.$c.fts_p50]:-}")" ">= 2" "q_$c.p50"
    rrow "query $c p99 ms (FTS5 / tenderidx)" "${R[cmp.$c.tdx_p99]:-}" "${R[cmp.$c.fts_p99]:-}" \
      "$(inv "${R[cmp.$c.tdx_p99]:-}" "${R[cmp.$c.fts_p99]:-}")" ">= 2" "q_$c.p99"
  done
fi
for c in icu opencc; do
  [[ -n ${R[stage.normalize.$c.mbps_med]:-} ]] || continue
  rrow "normalize MB/s: tenderidx / $c" "${R[stage.normalize.tenderidx.mbps_med]:-}" \
    "${R[stage.normalize.$c.mbps_med]:-}" \
    "$(ratio "${R[stage.normalize.tenderidx.mbps_med]:-}" "${R[stage.normalize.$c.mbps_med]:-}")" "" "norm_$c"
done
rrow "match MB/s: tenderidx / bare Hyperscan" "${R[stage.match.tenderidx.mbps_med]:-}" \
  "${R[stage.match.hyperscan.mbps_med]:-}" \
  "$(ratio "${R[stage.match.tenderidx.mbps_med]:-}" "${R[stage.match.hyperscan.mbps_med]:-}")" "" match_hs
if [[ -n ${R[stage.compress.zstd.mbps_med]:-} ]]; then
  rrow "stored text MB/s: tenderidx compress / bare zstd" "${R[stage.compress.tenderidx.mbps_med]:-}" \
    "${R[stage.compress.zstd.mbps_med]:-}" \
    "$(ratio "${R[stage.compress.tenderidx.mbps_med]:-}" "${R[stage.compress.zstd.mbps_med]:-}")" "" compress_zstd
fi
for tool in rg grep; do
  [[ -n ${R[scan.$tool.mbps]:-} ]] || continue
  rrow "watch-list scan MB/s: tenderidx match / $tool -F -f" "${R[stage.match.tenderidx.mbps_med]:-}" \
    "${R[scan.$tool.mbps]:-}" "$(ratio "${R[stage.match.tenderidx.mbps_med]:-}" "${R[scan.$tool.mbps]:-}")" "" "scan_$tool"
  [[ -n ${R[sub.$tool.ms_med]:-} ]] || continue
  rrow "substring count ms: $tool / tenderidx (${R[sub.$tool.n]:-} queries)" "${R[sub.$tool.tdx_ms_med]:-}" \
    "${R[sub.$tool.ms_med]:-}" "$(inv "${R[sub.$tool.tdx_ms_med]:-}" "${R[sub.$tool.ms_med]:-}")" "" "sub_$tool"
done

print_ratios() {
  printf '%-62s %12s %12s %8s  %s\n' "comparison (ratio > 1: tenderidx ahead)" tenderidx peer ratio target
  local row what a b r t
  for row in "${ratio_rows[@]}"; do
    IFS='|' read -r what a b r t <<<"$row"
    printf '%-62s %12s %12s %8s  %s\n' "$what" "$a" "$b" "$r" "$t"
  done
}

# ---------------------------------------------------------------- targets

# verdict VALUE OP LIMIT -> "met" / "missed (x.xx of target)"
verdict() {
  local v=$1 op=$2 lim=$3
  if [[ -z $v || $v == - ]]; then echo "not measured"; return; fi
  awk -v v="$v" -v op="$op" -v l="$lim" 'BEGIN {
    ok = (op == ">=") ? (v >= l) : (v <= l)
    if (ok) { print "met"; exit }
    if (op == ">=") printf "missed: %.2gx of the target\n", v / l
    else printf "missed: %.3gx the limit\n", v / l }'
}
target_rows=()
trow() { target_rows+=("$1|$2|$3|$(verdict "$2" "$4" "$5")"); }
a_note="" q_note=""
(( ${R[corpus.a_bytes]:-} >= 1000000000 )) || a_note=" (corpus ${R[corpus.a_mb]:-} MB < 1 GB)"
(( ${R[qindex.docs]:-} >= 1000000 )) || q_note=" (index of ${R[qindex.docs]:-} docs < 1,000,000)"

trow "entity-only ingest, 1 thread, MB per CPU-second$a_note" "${R[ingest.entity.$t1.mbps_cpu]:-}" ">= 150" ">=" 150
trow "full ingest, 1 thread, MB per CPU-second$a_note" "${R[ingest.full.$t1.mbps_cpu]:-}" ">= 80" ">=" 80
trow "entity-only: $tn threads / 1 thread (wall)" "${R[ingest.entity.scaling]:-}" ">= 1.8" ">=" 1.8
trow "full: $tn threads / 1 thread (wall)" "${R[ingest.full.scaling]:-}" ">= 1.8" ">=" 1.8
if [[ -n ${R[ingest.full.core_scaling]:-} ]]; then
  for prof in entity full; do
    label=$prof
    [[ $prof == entity ]] && label=entity-only
    trow "$label: $tn cores / 1 core (wall; 1 worker pinned; ${R[ingest.$prof.core_scaling_clean]:-0} of $runs pairs undisturbed)" \
      "${R[ingest.$prof.core_scaling]:-}" ">= 1.8" ">=" 1.8
  done
fi
trow "full ingest 1 thread / FTS5 trigram build (docs/s)" "${R[ratio.build]:-}" ">= 30" ">=" 30
trow "index size / input size, full profile" "${R[$full1.size_ratio]:-}" "<= 1.5" "<=" 1.5
rss_lim=$((512 + 256))
trow "peak RSS MiB, full, $tn threads, $(calc "$ingest_inputs_bytes / 1e6" 0) MB (--memory 512M + 256 MiB)" \
  "${R[ingest.full.$tn.rss_mib]:-}" "<= $rss_lim" "<=" "$rss_lim"
if [[ -n ${R[qindex.rss_mib]:-} ]]; then
  trow "peak RSS MiB, full, $tn threads, $(calc "${R[qindex.input_bytes]} / 1e6" 0) MB (the same bound)" \
    "${R[qindex.rss_mib]}" "<= $rss_lim" "<=" "$rss_lim"
fi
declare -A qtarget=([entity]=1 [cat]=1 [and2]=5 [sub20]=10 [subcount]=100 [facet]=100)
for c in "${classes[@]}"; do
  trow "query $c p99 ms$q_note" "${R[qall.$c.p99_ms]:-}" "<= ${qtarget[$c]}" "<=" "${qtarget[$c]}"
done
for c in "${classes[@]}"; do
  [[ -n ${R[ratio.q_$c.p99]:-} ]] || continue
  trow "query $c vs FTS5: p50 speed-up" "${R[ratio.q_$c.p50]:-}" ">= 2" ">=" 2
  trow "query $c vs FTS5: p99 speed-up" "${R[ratio.q_$c.p99]:-}" ">= 2" ">=" 2
done

# ---------------------------------------------------------------- plots

plots=()
if have gnuplot; then
  pdir=$out/plots
  {
    for t in "${threads_list[@]}"; do
      echo "$t ${R[ingest.full.$t.mbps_med]:-} ${R[ingest.entity.$t.mbps_med]:-}"
    done
  } >"$pdir/threads.dat"
  gnuplot <<EOF 2>>"$log/gnuplot.err" && plots+=(threads.png)
set terminal pngcairo size 640,400 font "sans,10"
set output "$pdir/threads.png"
set title "Ingest throughput vs worker threads (${R[corpus.a_mb]:-} MB)"
set xlabel "worker threads (-j)"; set ylabel "MB/s (median)"; set xtics 1; set yrange [0:*]; set key top left
plot "$pdir/threads.dat" using 1:2 with linespoints lw 2 title "full (grams)", \
     "" using 1:3 with linespoints lw 2 title "entity-only (--no-grams)"
EOF
  if ((have_wlgen)); then
    for n in "${sweep_counts[@]}"; do
      if [[ -n ${R[sweep.$n.mbps_med]:-} ]]; then
        echo "$n ${R[sweep.$n.mbps_med]:-} ${R[sweep.$n.match_mbps]:-}"
      fi
    done >"$pdir/patterns.dat"
    gnuplot <<EOF 2>>"$log/gnuplot.err" && plots+=(patterns.png)
set terminal pngcairo size 640,400 font "sans,10"
set output "$pdir/patterns.png"
set title "Entity-only ingest vs watch-list size (1 worker, ${R[sweep.mb]:-} MB)"
set xlabel "patterns"; set ylabel "MB/s (median, log)"; set logscale xy; set key top right
plot "$pdir/patterns.dat" using 1:2 with linespoints lw 2 title "ingest (wall)", \
     "" using 1:3 with linespoints lw 2 title "match stage alone"
EOF
  fi
  {
    for c in "${classes[@]}"; do
      echo "$c ${R[qall.$c.p50_ms]:-} ${R[qall.$c.p95_ms]:-} ${R[qall.$c.p99_ms]:-} ${qtarget[$c]}"
    done
  } >"$pdir/latency.dat"
  gnuplot <<EOF 2>>"$log/gnuplot.err" && plots+=(latency.png)
set terminal pngcairo size 720,420 font "sans,10"
set output "$pdir/latency.png"
set title "tenderidx query latency per class (${R[qindex.docs]:-} documents, warm, 1 thread)"
set ylabel "ms (log)"; set logscale y; set style data histograms; set style histogram cluster gap 1
set style fill solid 0.8 border -1; set boxwidth 0.9; set key top left
plot "$pdir/latency.dat" using 2:xtic(1) title "p50", "" using 3 title "p95", "" using 4 title "p99", \
     "" using 5 with points pt 7 ps 1.5 lc rgb "black" title "target (p99)"
EOF
  if [[ -s $out/cmp-fts5.tsv ]]; then
    for c in "${classes[@]}"; do
      awk -F'\t' -v c="$c" '$1 == c { print $1, $3, $4, $5, $6 }' "$out/cmp-fts5.tsv"
    done >"$pdir/fts5.dat"
    gnuplot <<EOF 2>>"$log/gnuplot.err" && plots+=(latency-fts5.png)
set terminal pngcairo size 720,420 font "sans,10"
set output "$pdir/latency-fts5.png"
set title "Same queries, same ${R[aindex.docs]:-} documents: tenderidx vs SQLite FTS5 trigram"
set ylabel "ms (log)"; set logscale y; set style data histograms; set style histogram cluster gap 1
set style fill solid 0.8 border -1; set boxwidth 0.9; set key top left
plot "$pdir/fts5.dat" using 2:xtic(1) title "tenderidx p50", "" using 3 title "tenderidx p99", \
     "" using 4 title "FTS5 p50", "" using 5 title "FTS5 p99"
EOF
  fi
fi

# ---------------------------------------------------------------- RESULTS.md

results=$out/RESULTS.md
{
  echo "# tenderidx benchmark results"
  echo
  if [[ $mode == full ]]; then
    echo "Written by \`scripts/bench.sh\` (full run). How to run it and how to read every figure:"
  else
    echo "Written by \`scripts/bench.sh\` ($mode run: not the project's reference figures). How to read them:"
  fi
  echo "[bench/README.md](README.md)."
  echo
  echo "| | |"
  echo "| --- | --- |"
  echo "| date | ${R[run.date]:--} |"
  echo "| commit | ${R[run.commit]:--} (branch ${R[run.branch]:--}), ${R[build.type]:--} build |"
  echo "| machine | ${R[machine.cpu]:--}, ${R[machine.cores]:--} cores (${R[machine.simd]:--}), ${R[machine.mem_gib]:--} GiB, Linux ${R[machine.kernel]:--} |"
  echo "| libraries | Hyperscan ${R[tool.hyperscan]:--}, ICU ${R[tool.icu]:--}, SQLite ${R[tool.sqlite]:--}, OpenCC ${R[tool.opencc]:--}; ${R[tool.rg]:--}; ${R[tool.grep]:--} |"
  echo "| corpus | ${R[corpus.desc]:--}; ingest corpus ${R[corpus.a_mb]:--} MB (${R[ingest.full.$t1.docs]:--} docs); query index ${R[qindex.docs]:--} docs |"
  echo "| watch list | ${R[list.desc]:--}: ${R[list.patterns]:--} patterns |"
  echo "| method | seed ${R[run.seed]:--}; warm-up, then ${R[run.runs]:--} runs per series: median (best); queries: $nq per class drawn from the corpus, ${budget} s budget per class and engine |"
  echo "| noise | load average ${R[load.start]:--} at start, ${R[load.end]:--} at the end; a fixed CPU job varied by ${R[noise.start.spread]:--}% (start) and ${R[noise.end.spread]:--}% (end) across 5 runs |"
  echo "| duration | ${R[run.minutes]:--} minutes |"
  if [[ $gen != "$builddir/corpus/gen" ]]; then
    echo "| generator | $gen (given with --gen) |"
  fi
  if [[ -n ${R[run.given]} ]]; then
    echo "| sizes set | ${R[run.given]} (the defaults of a $mode run are in bench/README.md) |"
  fi
  echo
  load_max=$(for k in "${!R[@]}"; do if [[ $k == load.* ]]; then echo "${R[$k]}"; fi; done | sort -g | tail -1)
  if awk -v l="${load_max:-0}" -v c="$(nproc)" 'BEGIN { exit !(l > 0.5 * c) }'; then
    echo "**Noisy machine:** the load average reached $load_max on $(nproc) cores during this run"
    echo "(other jobs were running), so wall-clock figures are pessimistic and vary between runs;"
    echo "figures per CPU-second are less affected.  Re-run on a quiet machine for reference figures."
    echo
  fi
  if ((${#skipped[@]})); then
    echo "Not measured in this run:"
    for s in "${skipped[@]}"; do echo "- $s"; done
    echo
  fi

  echo "## Targets"
  echo
  echo "| target (issues 6 and 7) | measured | required | verdict |"
  echo "| --- | --- | --- | --- |"
  for row in "${target_rows[@]}"; do
    IFS='|' read -r what val req verd <<<"$row"
    echo "| $what | ${val:--} | $req | $verd |"
  done
  echo

  echo "## Ratios (tenderidx / peer; above 1: tenderidx ahead)"
  echo
  echo '```'
  print_ratios
  echo '```'
  echo

  echo "## Ingest (${R[corpus.a_mb]:--} MB, ${R[ingest.full.$t1.docs]:--} documents)"
  echo
  echo "MB/s counts the input files' bytes; text MB/s the documents' text as tenderidx counts it;"
  echo "MB per CPU-second divides by user + system time of the whole process (reader and writer"
  echo "threads included), the per-core figure."
  echo
  echo "| profile | threads | MB/s median | MB/s best | text MB/s | docs/s | MB per CPU-s | CPU % | peak RSS MiB | index / input | index / text |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for prof in full entity; do
    for t in "${threads_list[@]}"; do
      k=ingest.$prof.$t
      echo "| $prof | $t | ${R[$k.mbps_med]:--} | ${R[$k.mbps_best]:--} | ${R[$k.text_mbps_med]:--} | ${R[$k.docs_s]:--} | ${R[$k.mbps_cpu]:--} | ${R[$k.cpu_pct]:--} | ${R[$k.rss_mib]:--} | ${R[$k.size_ratio]:--} | ${R[$k.size_ratio_text]:--} |"
    done
    if [[ -n ${R[ingest.$prof.core1.wall_med]:-} ]]; then
      echo "| $prof | 1, pinned to one core | $(calc "$ingest_inputs_bytes / 1e6 / ${R[ingest.$prof.core1.wall_med]}" 1) | - | - | - | - | - | - | - | - |"
      echo "| $prof | $tn, beside the pinned runs | $(calc "$ingest_inputs_bytes / 1e6 / ${R[ingest.$prof.coren.wall_med]}" 1) | - | - | - | - | - | - | - | - |"
    fi
  done
  if [[ -n ${R[ingest.full.core_scaling_pairs]:-} ]]; then
    echo
    echo "Cores: each pinned run was followed at once by a $tn-core run; the ratio of each pair"
    echo "(pinned wall / $tn-core wall): full ${R[ingest.full.core_scaling_pairs]}, entity-only"
    echo "${R[ingest.entity.core_scaling_pairs]:-}; the target row reports the median of the pairs"
    echo "without a *.  A * marks a pair in which a run took more than $CPU_DISTURBED times the CPU"
    echo "time of its unpinned series above for the same work (the host took part of the core);"
    echo "CPU of each pair's pinned / $tn-core run against its series: full"
    echo "${R[ingest.full.core_scaling_cpu]:--}, entity-only ${R[ingest.entity.core_scaling_cpu]:--}."
  fi
  echo
  echo "Time per stage (seconds summed over threads, median of the runs; MB/s = document text ÷ stage time,"
  echo "the speed of one core in that stage).  tenderidx times its stages by the clock on the wall"
  echo "(CLOCK_MONOTONIC), so on a busy machine a thread's wait for a core counts in its stage:"
  echo
  printf '| profile | threads |'; for s in "${stage_names[@]}"; do printf ' %s |' "$s"; done; echo
  printf '| --- | --- |'; for s in "${stage_names[@]}"; do printf ' --- |'; done; echo
  for prof in full entity; do
    for t in "${threads_list[@]}"; do
      k=ingest.$prof.$t
      printf '| %s | %s |' "$prof" "$t"
      for s in "${stage_names[@]}"; do
        printf ' %s |' "$(stage_speed "${R[$k.text_bytes]:-}" "${R[$k.stage.$s]:-}")"
      done
      echo
    done
  done
  echo
  if [[ -n ${R[qindex.wall]:-} ]]; then
    echo "Query index: ${R[qindex.docs]:--} documents ($(calc "${R[qindex.input_bytes]:-} / 1e6" 1) MB) indexed with $tn threads in"
    echo "${R[qindex.wall]:--} s (${R[qindex.mbps]:--} MB/s), peak RSS ${R[qindex.rss_mib]:--} MiB, index $(calc "${R[qindex.index_bytes]:-} / 1e6" 0) MB."
    echo "Peak RSS against corpus size (full profile, $tn threads): ${R[ingest.full.$tn.rss_mib]:--} MiB for ${R[corpus.a_mb]:--} MB,"
    echo "${R[qindex.rss_mib]:--} MiB for $(calc "${R[qindex.input_bytes]:-} / 1e6" 1) MB; tenderidx's own peak of data in flight:"
    echo "${R[ingest.full.$tn.inflight_mib]:--} MiB and ${R[qindex.inflight_mib]:--} MiB (bounded by --memory, 512 MiB).  RSS includes the"
    echo "pages of the index's memory map that the process touched (file-backed, reclaimable)."
    echo
  fi
  if [[ -n ${R[inc.add.s]:-} ]]; then
    echo "Adding a month: ${R[inc.added]:--} new notices indexed into a copy of the query index in ${R[inc.add.s]:--} s"
    echo "(the run leaves ${R[inc.add.pending]:--} postings segment(s) pending); folding them into the main tree"
    echo "with \`--merge\` (a rewrite of the whole postings tree): ${R[inc.merge.s]:--} s."
    echo
  fi

  if ((have_wlgen)); then
    echo "## Ingest vs watch-list size (entity-only, 1 worker thread, ${R[sweep.mb]:--} MB)"
    echo
    echo "| patterns | compile ms (cold) | MB/s median | MB/s best | MB per CPU-s | match stage MB/s | hits | peak RSS MiB |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
    for n in "${sweep_counts[@]}"; do
      [[ -n ${R[sweep.$n.mbps_med]:-} ]] || continue
      echo "| $n | ${R[sweep.$n.compile_ms]:--} | ${R[sweep.$n.mbps_med]:--} | ${R[sweep.$n.mbps_best]:--} | ${R[sweep.$n.mbps_cpu]:--} | ${R[sweep.$n.match_mbps]:--} | ${R[sweep.$n.hits]:--} | ${R[sweep.$n.rss_mib]:--} |"
    done
    echo
  fi

  if [[ -n ${R[prose.mbps_med]:-} ]]; then
    echo "## Ingest of prose (full profile, 1 worker thread, ${R[prose.mb]:--} MB of \`gen text\`)"
    echo
    echo "Generated notices repeat a grammar's phrases (about 15,000 distinct bigrams in a gigabyte);"
    echo "\`gen text\` writes prose with the term diversity of real text (hundreds of thousands of"
    echo "distinct bigrams in a few megabytes).  The writer and the merge pay per distinct term of a"
    echo "batch, so this is the figure to expect on archives of varied text.  Stages as in the table"
    echo "above: seconds (median of the runs) and document text MB per stage-second."
    echo
    echo "| corpus | MB/s median | MB per CPU-s | terms | compress | write | merge | index / input | peak RSS MiB |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    for k in ingest.full.1 prose; do
      if [[ $k == prose ]]; then name="prose (${R[prose.mb]:--} MB)"; else name="notices (above, ${R[corpus.a_mb]:--} MB)"; fi
      row="| $name | ${R[$k.mbps_med]:--} | ${R[$k.mbps_cpu]:--}"
      for s in terms compress write merge; do
        row+=" | $(stage_speed "${R[$k.text_bytes]:-}" "${R[$k.stage.$s]:-}")"
      done
      echo "$row | ${R[$k.size_ratio]:--} | ${R[$k.rss_mib]:--} |"
    done
    echo
  fi

  echo "## Query latency"
  echo
  echo "In process (bench/bench_query), warm cache, one thread; a query's time is parse + evaluation."
  echo "Classes: entity (entity:NAME, full answer), cat (cat:NAME, full answer), and2 (two 3-4"
  echo "character substrings of one document, AND), sub20 (a 2-8 character substring, first 20"
  echo "results), subcount (the same substrings, counted), facet (--facet month over every document)."
  echo
  echo "On the query index (${R[qindex.docs]:--} documents):"
  echo
  echo "| class | queries run | p50 ms | p95 ms | p99 ms | max ms | mean ms | best run's p99 | target p99 |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for c in "${classes[@]}"; do
    echo "| $c | ${R[qall.$c.queries]:--} of ${R[qall.$c.of]:--} | ${R[qall.$c.p50_ms]:--} | ${R[qall.$c.p95_ms]:--} | ${R[qall.$c.p99_ms]:--} | ${R[qall.$c.max_ms]:--} | ${R[qall.$c.mean_ms]:--} | ${R[qall.$c.p99_best_ms]:--} | ${qtarget[$c]} |"
  done
  echo
  if [[ -s $out/cmp-fts5.tsv ]]; then
    echo "Beside SQLite FTS5 (trigram) on the ingest corpus (${R[aindex.docs]:--} documents, the same queries;"
    echo "figures over the queries both engines ran within the budget; FTS5 forms: bench/README.md):"
    echo
    echo "| class | queries | tenderidx p50 | tenderidx p99 | FTS5 p50 | FTS5 p99 | tenderidx >= 2x faster | same answer size |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
    for c in "${classes[@]}"; do
      [[ -n ${R[cmp.$c.n]:-} ]] || continue
      echo "| $c | ${R[cmp.$c.n]:--} (FTS5 form for ${R[fts.$c.of]:--}) | ${R[cmp.$c.tdx_p50]:--} | ${R[cmp.$c.tdx_p99]:--} | ${R[cmp.$c.fts_p50]:--} | ${R[cmp.$c.fts_p99]:--} | ${R[cmp.$c.fast2x]:--} | ${R[cmp.$c.agree]:--} |"
    done
    echo
    echo "FTS5 build: ${R[fts5.docs]:--} documents in ${R[fts5.seconds]:--} s + ${R[fts5.opt_seconds]:--} s optimize"
    echo "(${R[fts5.docs_s]:--} docs/s, ${R[fts5.mbps]:--} MB/s of input); database $(calc "${R[fts5.db_bytes]:-} / 1e6" 0) MB."
    echo
  fi

  echo "## Stages beside the bare libraries (${R[stageinfo.text_mb]:--} MB of the corpus, ${R[stageinfo.docs]:--} documents)"
  echo
  echo "| stage | contender | MB/s median | MB/s best |"
  echo "| --- | --- | --- | --- |"
  for sc in normalize.tenderidx normalize.icu normalize.opencc match.tenderidx match.hyperscan \
    compress.tenderidx compress.zstd; do
    [[ -n ${R[stage.$sc.mbps_med]:-} ]] || continue
    echo "| ${sc%%.*} | ${sc#*.} | ${R[stage.$sc.mbps_med]:--} | ${R[stage.$sc.mbps_best]:--} |"
  done
  for tool in rg grep; do
    [[ -n ${R[scan.$tool.mbps]:-} ]] || continue
    echo "| match | $tool -F -c -f (${R[scan.literals]:--} literals) | ${R[scan.$tool.mbps]:--} | $(calc "${R[scan.mb]:-} / ${R[scan.$tool.min]:-}" 1) |"
  done
  echo
  echo "normalize: tenderidx = all steps with offsets; icu = the bare ICU chain (nfkc_cf, then"
  echo "Traditional-Simplified); opencc = t2s.json only.  match: tenderidx = hits with the boundary"
  echo "rule, sorted; hyperscan = hs_scan of the same databases counting matches; ripgrep and grep"
  echo "report matching lines (documents) only, over the same normalized text.  compress: tenderidx ="
  echo "the stored text's zstd frames with the dictionary a new index trains; zstd = bare libzstd, a"
  echo "ZDICT dictionary from the same samples and ZSTD_compress_usingCDict at the same level."
  echo
  for tool in rg grep; do
    [[ -n ${R[sub.$tool.n]:-} ]] || continue
    echo "Substring counts with $tool over the ingest corpus's normalized text: median ${R[sub.$tool.ms_med]:--} ms"
    echo "per query against ${R[sub.$tool.tdx_ms_med]:--} ms for tenderidx's --count; answers equal on ${R[sub.$tool.agree]:--} of ${R[sub.$tool.n]:--}."
    echo
  done

  if ((${#plots[@]})); then
    echo "## Plots"
    echo
    for p in "${plots[@]}"; do echo "![${p%.png}](plots/$p)"; done
    echo
  fi

  for prog in bench_normalize bench_match bench_postings; do
    [[ -s $log/$prog.out ]] || continue
    if [[ $prog == bench_postings ]]; then
      echo "## $prog (the terms stage alone, on the ingest corpus's normalized text)"
    else
      echo "## $prog (module benchmark, its own generated input)"
    fi
    echo
    echo '```'
    cat "$log/$prog.out"
    echo '```'
    echo
  done
} >"$results"

echo
print_ratios
echo
printf '%s\n' "${target_rows[@]}" | awk -F'|' '{ printf "%-62s %12s  %-8s %s\n", $1, $2, $3, $4 }'
echo
say "results: $results (raw figures: $out/results.tsv, logs: $log)"
if ((publish)); then
  cp "$results" bench/RESULTS.md
  rm -rf bench/plots
  mkdir -p bench/plots
  for p in "${plots[@]}"; do cp "$out/plots/$p" bench/plots/; done
  say "published bench/RESULTS.md and bench/plots/"
fi
exit
}
