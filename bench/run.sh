#!/usr/bin/env bash
# Runs the benchmark suite on a built tree and writes the report (bench/README.md):
#   bench/run.sh [BUILD_DIR] [--compare] [--update-baseline]
# BUILD_DIR (default build/release) must hold the benchmark binaries and ctsim. Results go to
# $CTSIM_BENCH_OUT (default BUILD_DIR/bench-results): one Google Benchmark JSON per binary, the
# corpus replay timings (corpus.json, same format), all of them merged (bench.json), and the
# report (report.md, report.html) with every figure beside its target (bench/targets.json).
#   --compare           also compare with bench/baseline.json (compare.py semantics); exit 1 on
#                       a regression beyond CTSIM_BENCH_THRESHOLD (default 10%)
#   --update-baseline   copy bench.json to bench/baseline.json afterwards
# Environment: CTSIM_BENCH_FILTER (a --benchmark_filter regex for every binary, default all),
# CTSIM_BENCH_MIN_TIME (seconds per repetition, default 0.2), CTSIM_BENCH_REPETITIONS (default 3),
# CTSIM_BENCH_NOTE (a note recorded in the results, e.g. "machine shared with other builds"),
# CTSIM_CORPUS (the corpus folder, default ../shared/traces), CTSIM_BENCH_CORPUS_RUNS (default 3).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

build=build/release
compare=0
update=0
for arg in "$@"; do
  case "$arg" in
    --compare) compare=1 ;;
    --update-baseline) update=1 ;;
    -*) echo "usage: bench/run.sh [BUILD_DIR] [--compare] [--update-baseline]" >&2; exit 2 ;;
    *) build="$arg" ;;
  esac
done
ctsim="$build/cli/ctsim"
out="${CTSIM_BENCH_OUT:-$build/bench-results}"
reps="${CTSIM_BENCH_REPETITIONS:-3}"
min_time="${CTSIM_BENCH_MIN_TIME:-0.2}"
filter="${CTSIM_BENCH_FILTER:-.}"
corpus="${CTSIM_CORPUS:-$here/../shared/traces}"
corpus_runs="${CTSIM_BENCH_CORPUS_RUNS:-3}"
threshold="${CTSIM_BENCH_THRESHOLD:-10%}"

for b in parser engine registry providers replay memory hash; do
  [ -x "$build/bench/ctsim_bench_$b" ] || { echo "bench: $build/bench/ctsim_bench_$b missing (libbenchmark-dev?)" >&2; exit 2; }
done
[ -x "$ctsim" ] || { echo "bench: $ctsim missing" >&2; exit 2; }

rm -rf "$out"
mkdir -p "$out"
export CTSIM_BENCH_GIT="${CTSIM_BENCH_GIT:-$(git describe --always --dirty 2>/dev/null || echo unknown)}"
export CTSIM_BENCH_NOTE="${CTSIM_BENCH_NOTE:-load average at start $(cut -d' ' -f1-3 /proc/loadavg)}"
echo "== ctsim benchmarks: $build, $reps repetitions of >= ${min_time}s, filter '$filter'"
echo "   note: $CTSIM_BENCH_NOTE"

start=$(date +%s)
results=()
for b in parser engine registry providers replay memory hash; do
  echo "== ctsim_bench_$b"
  "$build/bench/ctsim_bench_$b" --benchmark_out="$out/$b.json" --benchmark_out_format=json \
    --benchmark_repetitions="$reps" --benchmark_display_aggregates_only=true \
    --benchmark_min_time="$min_time" --benchmark_filter="$filter"
  # A filter that matches nothing leaves no (or an empty) file.
  if [ -s "$out/$b.json" ]; then results+=("$out/$b.json"); fi
done

# The whole public corpus through `ctsim replay` (one invocation, files one after the other),
# wall clock of the whole command: without providers (the target) and with dummy + emu-hw.
corpus_step() {
  local files=() name variant provs t0 t1 line
  while IFS= read -r f; do files+=("$f"); done < <(find "$corpus/public" -maxdepth 1 -type f ! -name MANIFEST.tsv | sort)
  {
    printf '{"context": {"date": "%s", "ctsim_corpus": "%s", "ctsim_corpus_files": %d},\n "benchmarks": [\n' \
      "$(date -Iseconds)" "$corpus/public" "${#files[@]}"
    local first=1
    for variant in none dummy+emu-hw; do
      provs=()
      [ "$variant" = none ] || provs=(--provider dummy --provider emu-hw)
      name="CTSIM_CorpusReplay/providers:$variant"
      echo "== $name: ${#files[@]} files, $corpus_runs runs" >&2
      for ((i = 0; i < corpus_runs; i++)); do
        t0=$(date +%s%N)
        # Exit 1 is a replay that finished with findings (damaged files end early); 2 is an error.
        set +e
        "$ctsim" replay --concat "${files[@]}" "${provs[@]}" -q --no-summary \
          --report "$out/corpus-report.json" > /dev/null 2> "$out/corpus-stderr.txt"
        rc=$?
        set -e
        t1=$(date +%s%N)
        if [ "$rc" -ge 2 ]; then
          echo "bench: ctsim replay over the corpus failed ($rc):" >&2
          cat "$out/corpus-stderr.txt" >&2
          return 1
        fi
        # Top-level "packets" (two-space indent) and throughput's "wall_s" of the report.
        line="$(sed -n 's/^  "packets": \([0-9]*\),*$/\1/p' "$out/corpus-report.json" | head -1) $(sed -n 's/^ *"wall_s": \([0-9.e+-]*\),*$/\1/p' "$out/corpus-report.json" | head -1)"
        local packets=${line% *} replay_s=${line#* }
        local secs
        secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", (b - a) / 1e9 }')
        echo "   run $((i + 1)): $secs s, $packets packets (replay loop $replay_s s)" >&2
        [ $first = 1 ] || printf ',\n'
        first=0
        printf '  {"name": "%s", "run_name": "%s", "run_type": "iteration", "repetitions": %d, "repetition_index": %d, "threads": 1, "iterations": 1, "real_time": %s, "cpu_time": %s, "time_unit": "s", "seconds": %s, "replay_seconds": %s, "packets": %s, "files": %d, "items_per_second": %s}' \
          "$name" "$name" "$corpus_runs" "$i" "$secs" "$secs" "$secs" "$replay_s" "$packets" "${#files[@]}" \
          "$(awk -v p="$packets" -v s="$secs" 'BEGIN { printf "%.1f", p / s }')"
      done
    done
    printf '\n ]}\n'
  } > "$out/corpus.json"
}
if [ -f "$corpus/public/MANIFEST.tsv" ] && [[ "CTSIM_CorpusReplay" =~ $filter ]]; then
  corpus_step
  results+=("$out/corpus.json")
  rm -f "$out/corpus-report.json" "$out/corpus-stderr.txt"
else
  echo "== corpus replay skipped (corpus: $corpus/public; filter '$filter')"
fi

[ ${#results[@]} -gt 0 ] || { echo "bench: no results (filter '$filter')" >&2; exit 2; }
"$ctsim" report merge "${results[@]}" -o "$out/bench.json"
echo "== suite took $(($(date +%s) - start)) s"

render=("$ctsim" report render "$out/bench.json" --targets bench/targets.json
  --md "$out/report.md" --html "$out/report.html")
status=0
if [ $compare = 1 ]; then
  render+=(--baseline bench/baseline.json --threshold "$threshold")
fi
"${render[@]}" || status=$?
cat "$out/report.md"
echo
echo "== report: $out/report.md, $out/report.html (results: $out/bench.json)"
if [ $update = 1 ]; then
  cp "$out/bench.json" bench/baseline.json
  echo "== bench/baseline.json updated"
fi
exit $status
