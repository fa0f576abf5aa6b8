#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build/fuzz) and runs each for SECONDS (default 60).
#   cmake/fuzz.sh [SECONDS] [TARGET...]
# Targets (default: all three): fuzz_parser, fuzz_capture, fuzz_sequence.
# Seeds: the shared corpus ($CTSIM_CORPUS or ../shared/traces, when present), the bundled traces
# and a generated trace; for fuzz_sequence the hand-made sequences (sequence_tool seeds) and the
# kept cases traces/regressions/*.seq. All are copied into build/fuzz/seeds (never into the
# repository). The growing corpus stays in build/fuzz/corpus/<target>; crashes are written to
# build/fuzz/artifacts/. Long campaigns: cmake/fuzz.sh 3600 fuzz_sequence (or run the binary
# with -jobs=N yourself); see the README's fuzzing paragraph.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_parser fuzz_capture fuzz_sequence)
jobs="${CTSIM_JOBS:-$(nproc)}"
dir=build/fuzz

if [ ! -f "$dir/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCTSIM_FUZZ=ON -DCTSIM_BUILD_TESTS=OFF -DCTSIM_WERROR=ON > /dev/null
fi
cmake --build "$dir" -j "$jobs" --target "${targets[@]}" fuzz_seed_frames sequence_tool ctsim

corpus="${CTSIM_CORPUS:-$here/../shared/traces}"
seeds="$dir/seeds"
rm -rf "$seeds"
mkdir -p "$seeds/fuzz_capture" "$seeds/fuzz_parser" "$seeds/fuzz_sequence" "$dir/artifacts"
captures=(traces/bundled/*.pcap)
"$dir/cli/ctsim" gen "$seeds/gen.pcap" --flows 50 --ipv6 0.3 --syn-flood 5 --port-scan 5 -q
captures+=("$seeds/gen.pcap")
if [ -d "$corpus/public" ]; then
  for f in "$corpus"/public/*; do
    case "$f" in *.tsv) ;; *) [ "$(stat -c %s "$f")" -le 262144 ] && captures+=("$f") ;; esac
  done
else
  echo "fuzz: corpus not found at $corpus/public; seeding from bundled and generated traces only"
fi
cp "${captures[@]}" "$seeds/fuzz_capture/"
"$dir/properties/fuzz/fuzz_seed_frames" "$seeds/fuzz_parser" 40 "${captures[@]}"
"$dir/properties/fuzz/sequence_tool" seeds "$seeds/fuzz_sequence"
cp traces/regressions/*.seq "$seeds/fuzz_sequence/"

status=0
for t in "${targets[@]}"; do
  mkdir -p "$dir/corpus/$t"
  extra=(-max_len=262144)
  [ "$t" = fuzz_parser ] && extra+=("-dict=properties/fuzz/parser.dict")
  # Sequences: a few hundred ops are plenty, and keep each run short.
  [ "$t" = fuzz_sequence ] && extra=(-max_len=2048)
  echo "== fuzz: $t for ${seconds}s"
  if ! "$dir/properties/fuzz/$t" "$dir/corpus/$t" "$seeds/$t" "${extra[@]}" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$dir/artifacts/$t-" > "$dir/$t.log" 2>&1; then
    echo "fuzz: $t FAILED; see $dir/$t.log and $dir/artifacts/ (minimize with" \
         "$dir/properties/fuzz/$t -minimize_crash=1 -runs=10000 ARTIFACT;" \
         "a sequence: $dir/properties/fuzz/sequence_tool show ARTIFACT)"
    tail -40 "$dir/$t.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$dir/$t.log" | tail -2
    echo "fuzz: $t ran clean"
  fi
done
exit $status
