# loader.cmake - test_loader and the real, deliberately broken plugins it loads.
#
# Every variant of loader_plugins/test_plugin.c is built as a MODULE the way
# spool_add_connector builds connectors (hidden visibility, --no-undefined, sdk/include
# only), but into a test-only directory so `spool` never finds them among real plugins.

set(LOADER_TP_DIR ${CMAKE_CURRENT_BINARY_DIR}/loader_plugins)
set(LOADER_TP_VARIANTS
  GOOD WIDE SINK DUP NOENTRY NULLENTRY ABI2 ABI0 NOPOLL SINK_NOFLUSH UNRESOLVED
  OPT_BADNAME OPT_DUP OPT_BADTYPE OPT_REQDEFAULT OPT_ENUMNOCHOICES OPT_BADDEFAULT
  OPT_NODOC OPT_RANGE OPT_BADFLAGS)

set(LOADER_TP_TARGETS)
foreach(variant IN LISTS LOADER_TP_VARIANTS)
  string(TOLOWER ${variant} lower)
  set(target loader_tp_${lower})
  add_library(${target} MODULE ${CMAKE_CURRENT_SOURCE_DIR}/loader_plugins/test_plugin.c)
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME tp_${lower}
    C_VISIBILITY_PRESET hidden
    LIBRARY_OUTPUT_DIRECTORY ${LOADER_TP_DIR})
  target_compile_definitions(${target} PRIVATE TP_${variant})
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/sdk/include)
  # UNRESOLVED references a symbol defined nowhere: only dlopen(RTLD_NOW) may catch it.
  # clang does not link the sanitizer runtime into shared objects: their __asan_*
  # references resolve against the executable at dlopen, so --no-undefined cannot
  # hold in a clang sanitizer build (gcc links libasan.so into the module instead).
  if(NOT variant STREQUAL "UNRESOLVED" AND
     NOT (SPOOL_SANITIZE AND CMAKE_C_COMPILER_ID MATCHES "Clang"))
    target_link_options(${target} PRIVATE -Wl,--no-undefined)
  endif()
  list(APPEND LOADER_TP_TARGETS ${target})
endforeach()

spool_add_test(test_loader SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_loader.c
  LIBS spool_loader LABELS unit abi)
target_compile_definitions(test_loader PRIVATE LOADER_TP_DIR="${LOADER_TP_DIR}")
add_dependencies(test_loader ${LOADER_TP_TARGETS})

# Loading on demand, with the same plugins; `threads` for its concurrent lookups.
spool_add_test(test_loader_lazy SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_loader_lazy.c
  LIBS spool_loader LABELS "unit;threads")
target_compile_definitions(test_loader_lazy PRIVATE LOADER_TP_DIR="${LOADER_TP_DIR}")
add_dependencies(test_loader_lazy ${LOADER_TP_TARGETS})
