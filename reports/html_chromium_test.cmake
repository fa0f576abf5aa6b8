# The HTML report opens offline in headless Chromium: every chart is drawn (a non-blank canvas)
# and the page logs no error. Skipped, with the reason, without chromium or Chart.js.
# Run by ctest with -DCTSIM=... -DTRACE=... -DWORK=...
find_program(CHROMIUM NAMES chromium chromium-browser)
set(CHART_JS /usr/share/javascript/chart.js/chart.min.js)
if(DEFINED ENV{CTSIM_CHART_JS})
  set(CHART_JS $ENV{CTSIM_CHART_JS})
endif()
if(NOT CHROMIUM)
  message("SKIPPED: chromium not installed (Debian package chromium)")
  return()
endif()
if(NOT EXISTS ${CHART_JS})
  message("SKIPPED: ${CHART_JS} missing (Debian package libjs-chart.js)")
  return()
endif()
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/profile)
execute_process(COMMAND ${CTSIM} replay ${TRACE} --provider dummy --provider emu-hw:seed=7 -q
                        --html ${WORK}/report.html --no-summary
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ctsim replay --html: exit ${rc}\n${err}")
endif()
file(READ ${WORK}/report.html html)
if(html MATCHES "<script src=" OR html MATCHES "<link ")
  message(FATAL_ERROR "the HTML report loads a script from elsewhere")
endif()
execute_process(
  COMMAND ${CHROMIUM} --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
          --disable-background-networking --disable-component-update --disable-sync
          --user-data-dir=${WORK}/profile --enable-logging=stderr --v=0
          --window-size=1200,1600 --dump-dom file://${WORK}/report.html
  RESULT_VARIABLE rc OUTPUT_VARIABLE dom ERROR_VARIABLE log TIMEOUT 120)
file(WRITE ${WORK}/dom.html "${dom}")
file(WRITE ${WORK}/chromium.log "${log}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "chromium exit ${rc}\n${log}")
endif()
string(REGEX MATCH "id=\"ctsim-status\"[^>]*" status "${dom}")
string(REGEX MATCH "data-charts=\"([0-9]+)\"" _ "${status}")
set(charts "${CMAKE_MATCH_1}")
string(REGEX MATCH "data-drawn=\"([0-9]+)\"" _ "${status}")
set(drawn "${CMAKE_MATCH_1}")
string(REGEX MATCH "data-errors=\"([0-9]+)\"" _ "${status}")
set(errors "${CMAKE_MATCH_1}")
if(NOT charts EQUAL 5 OR NOT drawn EQUAL 5 OR NOT errors EQUAL 0)
  message(FATAL_ERROR "charts ${charts}, drawn ${drawn}, page errors ${errors} "
                      "(status: '${status}'); see ${WORK}/dom.html and chromium.log")
endif()
# Console messages of the page: none may be an error.
string(REGEX MATCHALL "[^\n]*CONSOLE[^\n]*" console "${log}")
foreach(line IN LISTS console)
  if(line MATCHES "ERROR|Uncaught|error")
    message(FATAL_ERROR "console error: ${line}")
  endif()
endforeach()
message(STATUS "HTML report: ${drawn} of ${charts} charts drawn in ${CHROMIUM}, no console error")
