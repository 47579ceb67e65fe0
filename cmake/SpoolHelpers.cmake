# SpoolHelpers.cmake - one-line helpers for connectors and tests.

# spool_add_connector(NAME SOURCES a.c b.c [LIBS lib...])
# Builds spool-NAME.so: hidden visibility (only spool_plugin_entry is exported), linked
# with --no-undefined (the link proves it needs no runtime symbol), and compiled against
# sdk/include alone.
function(spool_add_connector name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  set(target spool-${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    LIBRARY_OUTPUT_DIRECTORY ${SPOOL_PLUGIN_OUTPUT_DIR})
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/sdk/include)
  # clang leaves the sanitizer runtime out of shared objects, so their __asan_* and
  # __ubsan_* references stay undefined until the host program loads them.
  if(NOT (CMAKE_C_COMPILER_ID MATCHES "Clang" AND (SPOOL_SANITIZE OR SPOOL_TSAN OR SPOOL_FUZZ)))
    target_link_options(${target} PRIVATE -Wl,--no-undefined)
  endif()
  target_link_libraries(${target} PRIVATE ${ARG_LIBS})
  install(TARGETS ${target} LIBRARY DESTINATION ${SPOOL_PLUGIN_INSTALL_DIR})
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
