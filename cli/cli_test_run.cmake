# run(OUT_VAR ARGS...): runs ${CTSIM} ARGS, fails the test with its stderr unless it exits 0, and
# stores its stdout in OUT_VAR. Included by the cli_*_test.cmake scripts.
function(run out_var)
  execute_process(COMMAND ${CTSIM} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "ctsim ${ARGN}: exit ${rc}\n${err}")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()
