# `ctsim replay --threads N` gives the per-packet ct_state and report counters of one thread, with
# a provider registered; providers with a fast path and --emit events are refused with exit 2.
# Run by ctest with -DCTSIM=... -DTRACE=...
include(${CMAKE_CURRENT_LIST_DIR}/cli_test_run.cmake)

run(one replay ${TRACE} --emit ct-state --no-summary --provider dummy)
run(two replay ${TRACE} --emit ct-state --no-summary --provider dummy --threads 2)
if(NOT one STREQUAL two)
  message(FATAL_ERROR "ct_state differs between --threads 1 and --threads 2")
endif()
string(REGEX MATCHALL "\n" lines "${one}")
list(LENGTH lines n)
if(n LESS 100)
  message(FATAL_ERROR "only ${n} lines from ${TRACE}")
endif()
run(j1 replay ${TRACE} --json -q --provider dummy)
run(j3 replay ${TRACE} --json -q --provider dummy --threads 3)
foreach(path "conntrack;created" "conntrack;removed" "engine;sweeps" "engine;created"
        "offload;hooks;conn_add" "offload;hooks;conn_del" "offload;hooks;conn_established"
        "connections_flushed_at_end" "packets")
  string(JSON a GET "${j1}" ${path})
  string(JSON b GET "${j3}" ${path})
  if(NOT a STREQUAL b)
    message(FATAL_ERROR "${path}: ${a} with one thread, ${b} with three")
  endif()
endforeach()
string(JSON threads GET "${j3}" options threads)
if(NOT threads EQUAL 3)
  message(FATAL_ERROR "the report's options say threads=${threads}")
endif()
foreach(bad "--provider;emu-hw" "--emit;events")
  execute_process(COMMAND ${CTSIM} replay ${TRACE} --threads 2 ${bad} -q --no-summary
                  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
  if(NOT rc EQUAL 2 OR NOT err MATCHES "--threads")
    message(FATAL_ERROR "--threads 2 ${bad}: exit ${rc}, expected 2 and a message: ${err}")
  endif()
endforeach()
message(STATUS "--threads: ${n} packets agree with one thread")
