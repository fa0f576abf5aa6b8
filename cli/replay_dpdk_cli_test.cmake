# `ctsim replay --input dpdk` (frames through DPDK's net_pcap driver) gives the same per-packet
# ct_state as reading the file with libpcap, and the dpdk provider's fast path runs on it.
# Run by ctest with -DCTSIM=... -DTRACE=...
include(${CMAKE_CURRENT_LIST_DIR}/cli_test_run.cmake)

run(file_states replay ${TRACE} --emit ct-state --clock frozen --no-summary)
run(dpdk_states replay ${TRACE} --input dpdk --emit ct-state --clock frozen --no-summary)
if(NOT file_states STREQUAL dpdk_states)
  message(FATAL_ERROR "ct_state differs between --input file and --input dpdk")
endif()
string(REGEX MATCHALL "\n" lines "${file_states}")
list(LENGTH lines n)
if(n LESS 100)
  message(FATAL_ERROR "only ${n} lines from ${TRACE}")
endif()
run(json replay ${TRACE} --input dpdk --provider dpdk --json)
string(JSON consumed GET "${json}" offload fast_path_packets consumed)
string(JSON hits GET "${json}" offload fast_paths 0 hits packets)
if(consumed LESS 1 OR hits LESS consumed)
  message(FATAL_ERROR "the dpdk fast path consumed ${consumed} packets (hits ${hits})")
endif()
message(STATUS "--input dpdk: ${n} packets agree with --input file; dpdk fast path consumed "
               "${consumed}")
