# The "Must show" of explanations, end to end through the ctsim binary: a corpus trace replayed
# through emu-hw at a small capacity that also declines every protocol but TCP prints a reasons
# table whose counts sum to the connections not offloaded, `--explain-conn` prints the timeline
# of one of them, and `ctsim explain` answers the same from the saved report and lifecycles.
# Run by ctest with -DCTSIM=... -DCORPUS=... -DWORK=...
set(TRACE ${CORPUS}/public/ndpi__gnutella.pcap)
if(NOT EXISTS ${TRACE})
  message("SKIPPED: corpus trace ${TRACE} not found (set CTSIM_CORPUS)")
  return()
endif()
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
set(PROVIDERS --provider emu-hw:capacity=50,protocols=tcp)
execute_process(COMMAND ${CTSIM} replay ${TRACE} ${PROVIDERS} -q --explain
                        --report ${WORK}/report.json --lifecycles ${WORK}/lifecycles.jsonl
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ctsim replay --explain: exit ${rc}\n${err}")
endif()
file(READ ${WORK}/report.json report)
string(JSON not_offloaded GET "${report}" explain not_offloaded)
string(JSON n_reasons LENGTH "${report}" explain reasons)
if(not_offloaded EQUAL 0 OR n_reasons LESS 2)
  message(FATAL_ERROR "expected several reasons, got ${n_reasons} for ${not_offloaded}\n${out}")
endif()
# The printed table: its total line and the sum of its rows equal the report's count.
if(NOT out MATCHES "Why not offloaded: ${not_offloaded} of")
  message(FATAL_ERROR "no reasons table for ${not_offloaded} connections:\n${out}")
endif()
string(REGEX MATCH "\n  total +([0-9]+)" _ "${out}")
if(NOT CMAKE_MATCH_1 EQUAL not_offloaded)
  message(FATAL_ERROR "table total ${CMAKE_MATCH_1} != not offloaded ${not_offloaded}\n${out}")
endif()
set(sum 0)
math(EXPR last "${n_reasons} - 1")
foreach(i RANGE ${last})
  string(JSON n GET "${report}" explain reasons ${i} connections)
  math(EXPR sum "${sum} + ${n}")
endforeach()
if(NOT sum EQUAL not_offloaded)
  message(FATAL_ERROR "reasons sum to ${sum}, not offloaded ${not_offloaded}")
endif()
foreach(reason table_full protocol_not_offloadable)
  if(NOT out MATCHES "  ${reason} ")
    message(FATAL_ERROR "reason ${reason} missing:\n${out}")
  endif()
endforeach()
# The timeline of the first reason's example connection, during the replay and from the files.
string(JSON example GET "${report}" explain reasons 0 example)
execute_process(COMMAND ${CTSIM} replay ${TRACE} ${PROVIDERS} -q --no-summary
                        --explain-conn "${example}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE timeline ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT timeline MATCHES "verdict: not offloaded" OR
   NOT timeline MATCHES "connection created")
  message(FATAL_ERROR "--explain-conn '${example}': exit ${rc}\n${timeline}${err}")
endif()
foreach(file report.json lifecycles.jsonl)
  execute_process(COMMAND ${CTSIM} explain ${WORK}/${file} --conn "${example}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE saved ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR NOT saved STREQUAL timeline)
    message(FATAL_ERROR "ctsim explain ${file}: exit ${rc}\n${saved}${err}\nexpected:\n${timeline}")
  endif()
endforeach()
execute_process(COMMAND ${CTSIM} explain ${WORK}/report.json
                RESULT_VARIABLE rc OUTPUT_VARIABLE saved_table)
if(NOT rc EQUAL 0 OR NOT saved_table MATCHES "Why not offloaded: ${not_offloaded} of")
  message(FATAL_ERROR "ctsim explain report.json: exit ${rc}\n${saved_table}")
endif()
execute_process(COMMAND ${CTSIM} report validate ${WORK}/report.json
                RESULT_VARIABLE rc OUTPUT_VARIABLE v ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the report with explanations does not validate:\n${v}${err}")
endif()
# `--explain-conn N` for a packet that did not create its connection (a reply of an established
# one) prints the timeline of the connection it belongs to, created by an earlier packet.
execute_process(COMMAND ${CTSIM} replay ${TRACE} ${PROVIDERS} -q --no-summary --emit ct-state
                OUTPUT_VARIABLE states)
string(REGEX MATCH "\n([0-9]+): est[|]rpl[|]trk\n" m "${states}")
set(reply "${CMAKE_MATCH_1}")
if("${reply}" STREQUAL "")
  message(FATAL_ERROR "no est|rpl|trk packet in ${TRACE}")
endif()
execute_process(COMMAND ${CTSIM} replay ${TRACE} ${PROVIDERS} -q --no-summary
                        --explain-conn ${reply}
                RESULT_VARIABLE rc OUTPUT_VARIABLE by_packet ERROR_VARIABLE err)
string(REGEX MATCH "packet ([0-9]+): connection created" m "${by_packet}")
if(NOT rc EQUAL 0 OR "${CMAKE_MATCH_1}" STREQUAL "" OR NOT CMAKE_MATCH_1 LESS reply)
  message(FATAL_ERROR "--explain-conn ${reply} (a reply packet): exit ${rc}\n${by_packet}${err}")
endif()
message(STATUS "${n_reasons} reasons for ${not_offloaded} connections; timeline of ${example}; "
               "packet ${reply} belongs to the connection packet ${CMAKE_MATCH_1} created")
