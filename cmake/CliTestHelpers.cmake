# Helpers for end-to-end tests that run the ctsim binary from a cmake -P script.
# The including script sets CTSIM (the binary) and WORK (the working directory).

# run(rc_var out_var args...): runs ctsim; sets the exit code, stdout, and last_err (stderr).
function(run rc_var out_var)
  execute_process(COMMAND ${CTSIM} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err WORKING_DIRECTORY ${WORK})
  set(${rc_var} "${rc}" PARENT_SCOPE)
  set(${out_var} "${out}" PARENT_SCOPE)
  set(last_err "${err}" PARENT_SCOPE)
endfunction()

# must(out_var args...): run() that fails the test on a non-zero exit code.
function(must out_var)
  run(rc out ${ARGN})
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "ctsim ${ARGN}: exit ${rc}\n${out}\n${last_err}")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
  set(last_err "${last_err}" PARENT_SCOPE)
endfunction()

# json_get(out_var file key...): a member of the JSON document in 'file'.
function(json_get out_var file)
  file(READ ${file} text)
  string(JSON v GET "${text}" ${ARGN})
  set(${out_var} "${v}" PARENT_SCOPE)
endfunction()
