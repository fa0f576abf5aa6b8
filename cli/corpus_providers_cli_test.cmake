# The whole public corpus replays through every built-in provider (in the sanitizer build of the
# test command: without an ASan or UBSan report, which would abort the run): exit 0, every record
# accounted for, the same packet count with each provider, and each provider reached. kernel-ct
# and tc-bpf are skipped, with their reason, where the machine cannot run them (not root).
# Run by ctest with -DCTSIM=... -DCORPUS=... -DWORK=...
include(${CMAKE_CURRENT_LIST_DIR}/cli_test_run.cmake)
if(DEFINED ENV{CTSIM_CORPUS})
  set(CORPUS "$ENV{CTSIM_CORPUS}")
endif()

file(GLOB files LIST_DIRECTORIES false "${CORPUS}/public/*")
list(FILTER files EXCLUDE REGEX "MANIFEST\\.tsv$")
list(SORT files)
list(LENGTH files n_files)
if(n_files EQUAL 0)
  message(STATUS "SKIPPED: no corpus at ${CORPUS}/public (set CTSIM_CORPUS)")
  return()
endif()
file(MAKE_DIRECTORY ${WORK})

run(out replay --concat ${files} -q --no-summary --report ${WORK}/none.json)
file(READ ${WORK}/none.json json)
string(JSON want GET "${json}" packets)
if(want LESS 10000)
  message(FATAL_ERROR "only ${want} packets from ${n_files} corpus files")
endif()

set(done "")
foreach(p dummy recorder:path=${WORK}/recorder.log emu-hw dpdk kernel-ct tc-bpf)
  string(REGEX REPLACE ":.*" "" name "${p}")
  execute_process(COMMAND ${CTSIM} replay --concat ${files} --provider ${p} -q --no-summary
                          --report ${WORK}/${name}.json
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    if(rc EQUAL 2 AND name MATCHES "^(kernel-ct|tc-bpf)$")
      message(STATUS "SKIPPED ${name}: ${err}")
      continue()
    endif()
    message(FATAL_ERROR "--provider ${p}: exit ${rc}\n${err}")
  endif()
  file(READ ${WORK}/${name}.json json)
  string(JSON got GET "${json}" packets)
  string(JSON adds GET "${json}" offload hooks conn_add)
  string(JSON reached GET "${json}" offload providers 0 calls conn_add)
  if(NOT got EQUAL want OR adds LESS 1000 OR reached LESS 1)
    message(FATAL_ERROR "--provider ${p}: ${got} packets (want ${want}), conn_add hooks ${adds}, "
                        "provider reached ${reached} times")
  endif()
  list(APPEND done ${name})
endforeach()
message(STATUS "corpus (${n_files} files, ${want} packets) through: ${done}")
