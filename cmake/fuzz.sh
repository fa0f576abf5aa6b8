#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build/fuzz) and runs each for SECONDS (default 60).
#   cmake/fuzz.sh [SECONDS] [TARGET...]
# Seeds: the shared corpus ($CTSIM_CORPUS or ../shared/traces, when present), the bundled traces
# and a generated trace, copied into build/fuzz/seeds (never into the repository). The growing
# corpus stays in build/fuzz/corpus/<target>; crashes are written to build/fuzz/artifacts/.
# Long campaigns: cmake/fuzz.sh 3600 fuzz_capture (or run the binary with -jobs=N yourself).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_parser fuzz_capture)
jobs="${CTSIM_JOBS:-$(nproc)}"
dir=build/fuzz

if [ ! -f "$dir/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCTSIM_FUZZ=ON -DCTSIM_BUILD_TESTS=OFF -DCTSIM_WERROR=ON > /dev/null
fi
cmake --build "$dir" -j "$jobs" --target "${targets[@]}" fuzz_seed_frames ctsim

corpus="${CTSIM_CORPUS:-$here/../shared/traces}"
seeds="$dir/seeds"
rm -rf "$seeds"
mkdir -p "$seeds/fuzz_capture" "$seeds/fuzz_parser" "$dir/artifacts"
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

status=0
for t in "${targets[@]}"; do
  mkdir -p "$dir/corpus/$t"
  extra=()
  [ "$t" = fuzz_parser ] && extra+=("-dict=properties/fuzz/parser.dict")
  echo "== fuzz: $t for ${seconds}s"
  if ! "$dir/properties/fuzz/$t" "$dir/corpus/$t" "$seeds/$t" "${extra[@]}" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=262144 \
      -print_final_stats=1 -artifact_prefix="$dir/artifacts/$t-" > "$dir/$t.log" 2>&1; then
    echo "fuzz: $t FAILED; see $dir/$t.log and $dir/artifacts/ (minimize with" \
         "$dir/properties/fuzz/$t -minimize_crash=1 -runs=10000 ARTIFACT)"
    tail -40 "$dir/$t.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$dir/$t.log" | tail -2
    echo "fuzz: $t ran clean"
  fi
done
exit $status
