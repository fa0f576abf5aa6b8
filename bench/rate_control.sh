#!/usr/bin/env bash
# Rate-control accuracy of `ctsim replay --pps` and `--speed` (a benchmark, not a unit test):
# replays a generated trace paced on the wall clock and compares the achieved rate (packets over
# the report's wall time) with the one asked for. Usage: bench/rate_control.sh [BUILD_DIR]
set -euo pipefail
build="${1:-build/release}"
ctsim="$build/cli/ctsim"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$ctsim" gen "$work/t.pcap" --flows 4000 --cps 1000 --seed 11 -q
packets=$("$ctsim" replay "$work/t.pcap" -q --no-summary --report - | python3 -c \
  'import json,sys; print(json.load(sys.stdin)["packets"])')
span=$("$ctsim" replay "$work/t.pcap" -q --no-summary --report - | python3 -c \
  'import json,sys; print(json.load(sys.stdin)["trace_time"]["span_s"])')
echo "trace: $packets packets over $span s of trace time"
measure() {  # label, expected seconds, replay options...
  local label="$1" want="$2"; shift 2
  "$ctsim" replay "$work/t.pcap" -q --no-summary --report "$work/r.json" "$@"
  python3 - "$work/r.json" "$want" "$label" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); want = float(sys.argv[2])
wall = r["throughput"]["wall_s"]; err = (wall - want) / want * 100
print(f"{sys.argv[3]:>14}: {r['packets']} packets in {wall:.3f} s wall, asked {want:.3f} s "
      f"({r['throughput']['packets_per_s']:.0f} pps), error {err:+.2f}%")
PY
}
for pps in 2000 10000 50000; do
  measure "--pps $pps" "$(python3 -c "print(($packets - 1) / $pps)")" --pps "$pps"
done
for x in 1 4; do
  measure "--speed x$x" "$(python3 -c "print($span / $x)")" --speed "x$x"
done
