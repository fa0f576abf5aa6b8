# Compiler flags shared by every ctsim target, applied through the ctsim_options interface target.
add_library(ctsim_options INTERFACE)
target_compile_options(ctsim_options INTERFACE -Wall -Wextra)
if(CTSIM_WERROR)
  target_compile_options(ctsim_options INTERFACE -Werror)
  # GCC 12 reports false -Wrestrict on std::string concatenation at -O3 (GCC bug 105651).
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(ctsim_options INTERFACE -Wno-error=restrict)
  endif()
endif()
if(CTSIM_SANITIZE AND CTSIM_TSAN)
  message(FATAL_ERROR "CTSIM_SANITIZE and CTSIM_TSAN are exclusive")
endif()
if(CTSIM_SANITIZE)
  message(STATUS "ctsim: building with ASan + UBSan")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(CTSIM_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "CTSIM_FUZZ needs clang: configure with CC=clang CXX=clang++")
  endif()
  message(STATUS "ctsim: building libFuzzer targets with ASan + UBSan")
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(CTSIM_TSAN)
  message(STATUS "ctsim: building with ThreadSanitizer")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()

# ctsim_test(NAME SOURCES... LIBS ...): a GoogleTest binary registered with ctest. Tests find the
# shared corpus through CTSIM_CORPUS (default: ../shared/traces beside the source tree).
set(CTSIM_CORPUS_DEFAULT "${CMAKE_SOURCE_DIR}/../shared/traces")
# ENV "VAR=value;..." sets environment variables for its tests.
function(ctsim_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;ENV" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} ctsim_options GTest::gtest GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    CTSIM_CORPUS_DEFAULT="${CTSIM_CORPUS_DEFAULT}"
    CTSIM_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
    CTSIM_BINARY_DIR="${CMAKE_BINARY_DIR}")
  if(ARG_ENV)
    gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES ENVIRONMENT "${ARG_ENV}")
  else()
    gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60)
  endif()
endfunction()
