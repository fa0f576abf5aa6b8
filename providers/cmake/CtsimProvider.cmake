# ctsim_add_provider(NAME SOURCES src...): builds a provider plug-in NAME.so (a MODULE library,
# no "lib" prefix) against <ctsim/ct_offload.h>.  The ct_offload_* and ctsim_* symbols it uses
# are resolved at load time against the ctsim binary, so nothing is linked.
function(ctsim_add_provider name)
  cmake_parse_arguments(ARG "" "" "SOURCES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "ctsim_add_provider(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ctsim::ct_offload)
  set_target_properties(${name} PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden
                                           CXX_VISIBILITY_PRESET hidden)
  # Only ctsim_plugin_abi_version and ctsim_plugin_init (CTSIM_PLUGIN_EXPORT) are exported.
endfunction()
