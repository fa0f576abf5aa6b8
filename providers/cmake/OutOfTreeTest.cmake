# ctest script: install the ctsim package from BUILD_DIR into a temporary prefix, build
# providers/examples against it as a standalone project, and check that CTSIM lists the
# example provider loaded from the resulting .so.
#   cmake -DBUILD_DIR=... -DEXAMPLES_DIR=... -DWORK_DIR=... -DCTSIM=... -DGENERATOR=... -P this
foreach(v BUILD_DIR EXAMPLES_DIR WORK_DIR CTSIM GENERATOR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "OutOfTreeTest: ${v} is not set")
  endif()
endforeach()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}" --component ctsim_dev)
if(NOT EXISTS "${prefix}/include/ctsim/ct_offload.h")
  message(FATAL_ERROR "the install did not ship include/ctsim/ct_offload.h")
endif()
run(${CMAKE_COMMAND} -S "${EXAMPLES_DIR}" -B "${WORK_DIR}/build" -G "${GENERATOR}"
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build "${WORK_DIR}/build")
set(so "${WORK_DIR}/build/example_count.so")
if(NOT EXISTS "${so}")
  message(FATAL_ERROR "the standalone build did not produce ${so}")
endif()
run("${CTSIM}" providers --provider-lib "${so}")
if(NOT out MATCHES "example-count +[^\n]*example_count\\.so +init conn_add conn_del conn_update conn_established can_offload flush\n")
  message(FATAL_ERROR "example-count is not listed as expected by ${CTSIM} providers:\n${out}")
endif()
message(STATUS "out-of-tree example provider listed:\n${out}")
