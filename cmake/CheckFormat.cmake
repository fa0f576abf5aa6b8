# Fails when any C/C++ source under the ctsim component folders differs from clang-format's output.
find_program(CLANG_FORMAT NAMES clang-format clang-format-14 REQUIRED)
set(dirs sim providers traces properties bench reports cli)
set(files)
foreach(d IN LISTS dirs)
  file(GLOB_RECURSE found "${SOURCE_DIR}/${d}/*.c" "${SOURCE_DIR}/${d}/*.h"
       "${SOURCE_DIR}/${d}/*.cc" "${SOURCE_DIR}/${d}/*.cpp")
  list(APPEND files ${found})
endforeach()
set(bad)
foreach(f IN LISTS files)
  execute_process(COMMAND ${CLANG_FORMAT} --style=file --dry-run --Werror ${f}
                  WORKING_DIRECTORY ${SOURCE_DIR} RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(NOT rc EQUAL 0)
    list(APPEND bad ${f})
  endif()
endforeach()
list(LENGTH files n)
if(bad)
  string(REPLACE ";" "\n  " badlist "${bad}")
  message(FATAL_ERROR "clang-format: these files need formatting "
          "(run: clang-format -i <file>):\n  ${badlist}")
endif()
message(STATUS "clang-format: ${n} files clean")
