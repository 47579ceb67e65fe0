# SpoolHelpers.cmake - one-line helpers for connectors and tests.

include(SpoolPlugin)

# spool_add_connector(NAME SOURCES a.c b.c [LIBS lib...])
# Builds spool-NAME.so with spool_add_plugin() (cmake/SpoolPlugin.cmake, the helper the
# SDK installs for out-of-tree plugins): hidden visibility, --no-undefined, sdk/include
# alone; into the build tree's plugin directory, where the binary finds it.
function(spool_add_connector name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  spool_add_plugin(spool-${name} SOURCES ${ARG_SOURCES} LIBS ${ARG_LIBS})
  set_target_properties(spool-${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${SPOOL_PLUGIN_OUTPUT_DIR})
endfunction()

# spool_add_test(NAME SOURCES a.c [LIBS lib...] [LABELS unit...])
# A cmocka test registered with ctest under its labels (unit, integration, abi, ...).
function(spool_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE PkgConfig::CMOCKA ${ARG_LIBS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}"
    ENVIRONMENT "SPOOL_BUILD_DIR=${CMAKE_BINARY_DIR};SPOOL_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()
