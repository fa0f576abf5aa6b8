#!/usr/bin/env bash
# The two commands of the README quick start, each self-sufficient on a fresh Debian 12 machine:
#   cmake/dev.sh demo   install packages, build (release), run the main job on the bundled trace
#   cmake/dev.sh test   install packages, build with ASan+UBSan, run the whole test suite, the
#                       threaded tests again under TSan, then a fuzz smoke of each libFuzzer
#                       target (CTSIM_FUZZ_SECONDS, default 60)
#   cmake/dev.sh bench [--compare] [--update-baseline]
#                       install packages, build (release, the demo's tree), run the benchmark
#                       suite and write its report with every figure beside its target
#                       (bench/README.md; --compare: also against bench/baseline.json)
# A second run reuses the installed packages and the build directories.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
jobs="${CTSIM_JOBS:-$(nproc)}"

configure_and_build() {  # dir, extra cmake args...
  local dir="$1"; shift
  if [ ! -f "$dir/build.ninja" ]; then
    cmake -S . -B "$dir" -G Ninja "$@"
  fi
  cmake --build "$dir" -j "$jobs"
}

case "${1:-}" in
  demo)
    bash cmake/setup.sh
    configure_and_build build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
    echo "== ctsim replay traces/bundled/mixed-small.pcap --provider dummy --provider emu-hw"
    build/release/cli/ctsim replay traces/bundled/mixed-small.pcap --provider dummy \
      --provider emu-hw --md - --html build/report.html
    echo "== HTML report: build/report.html"
    ;;
  test)
    bash cmake/setup.sh
    configure_and_build build/asan -DCMAKE_BUILD_TYPE=Debug -DCTSIM_SANITIZE=ON
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
    ctest --test-dir build/asan --output-on-failure -j "$jobs" --timeout 900
    # Threaded tests again under ThreadSanitizer: registry dispatch concurrent with
    # (un)registration, provider faults and the watchdog, isolated plug-ins, sharded replay.
    tsan_tests=(providers/providers_registry_test providers/providers_fault_test
                providers/providers_isolate_test sim/conntrack/sim_conntrack_sharded_test)
    if [ ! -f build/tsan/build.ninja ]; then
      cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCTSIM_TSAN=ON
    fi
    cmake --build build/tsan -j "$jobs" --target "${tsan_tests[@]##*/}"
    for t in "${tsan_tests[@]}"; do
      TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" "build/tsan/$t" --gtest_brief=1
    done
    echo "threaded tests under ThreadSanitizer: ok"
    # The main job's optimised build, run once: -O2 warnings (-Werror) the -O0 build cannot see.
    configure_and_build build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
    build/release/cli/ctsim replay traces/bundled/mixed-small.pcap --provider dummy \
      --provider emu-hw -q --no-summary --md /dev/null --html build/report.html
    echo "main job (release build): ok"
    # Fuzz smoke: each libFuzzer target for CTSIM_FUZZ_SECONDS (default 60; 0 skips).
    if [ "${CTSIM_FUZZ_SECONDS:-60}" != 0 ]; then
      bash cmake/fuzz.sh "${CTSIM_FUZZ_SECONDS:-60}"
    fi
    ;;
  bench)
    shift
    bash cmake/setup.sh
    configure_and_build build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
    bash bench/run.sh build/release "$@"
    ;;
  *)
    echo "usage: cmake/dev.sh demo|test|bench [--compare] [--update-baseline]" >&2
    exit 2
    ;;
esac
