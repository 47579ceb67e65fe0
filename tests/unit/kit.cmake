# kit.cmake - the plugin test kit (sdk/kit/) and the frozen ABI 1 layout.
spool_add_test(test_kit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kit.c LIBS spool::kit
               LABELS unit abi)
target_compile_definitions(test_kit PRIVATE
  SPOOL_TEST_PLUGIN_DIR="${CMAKE_BINARY_DIR}/tests/plugins")
add_dependencies(test_kit test_plugins)

spool_add_test(test_abi SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_abi.c LIBS spool::sdk
               LABELS unit abi)
