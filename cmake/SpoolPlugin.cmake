# SpoolPlugin.cmake - build and test spool plugins; installed with the SDK's CMake package
# (find_package(spool-sdk)) and used by the source tree's own connectors as well.

# spool_add_plugin(NAME SOURCES a.c b.c [LIBS lib...])
# Builds NAME.so as spool loads it: a MODULE compiled against the SDK headers alone, with
# hidden visibility (only spool_plugin_entry is exported) and linked with --no-undefined,
# so that the link proves the plugin needs no symbol from the runtime. Installs it into
# lib/spool/plugins under the prefix, where an installed spool finds it by itself.
function(spool_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_library(${name} MODULE ${ARG_SOURCES})
  set_target_properties(${name} PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden)
  target_link_libraries(${name} PRIVATE spool::sdk ${ARG_LIBS})
  # clang leaves the sanitizer runtime out of shared objects, so their __asan_* and
  # __ubsan_* references stay undefined until the host program loads them.
  set(sanitized FALSE)
  if(SPOOL_SANITIZE OR SPOOL_TSAN OR SPOOL_FUZZ OR CMAKE_C_FLAGS MATCHES "-fsanitize")
    set(sanitized TRUE)
  endif()
  if(NOT (CMAKE_C_COMPILER_ID MATCHES "Clang" AND sanitized))
    target_link_options(${name} PRIVATE -Wl,--no-undefined)
  endif()
  if(NOT DEFINED SPOOL_PLUGIN_INSTALL_DIR)
    set(SPOOL_PLUGIN_INSTALL_DIR lib/spool/plugins)
  endif()
  install(TARGETS ${name} LIBRARY DESTINATION ${SPOOL_PLUGIN_INSTALL_DIR})
endfunction()

# spool_add_kit_test(NAME SOURCES t.c [PLUGIN target] [LIBS lib...])
# A test program linked with the plugin test kit (spool::kit), registered with ctest.
# With PLUGIN, the test gets the plugin file's path as its first argument, for
# spool_kit_load(argv[1], ...). Needs enable_testing() in the project.
function(spool_add_kit_test name)
  cmake_parse_arguments(ARG "" "PLUGIN" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE spool::kit ${ARG_LIBS})
  if(ARG_PLUGIN)
    add_dependencies(${name} ${ARG_PLUGIN})
    add_test(NAME ${name} COMMAND ${name} $<TARGET_FILE:${ARG_PLUGIN}>)
  else()
    add_test(NAME ${name} COMMAND ${name})
  endif()
endfunction()
