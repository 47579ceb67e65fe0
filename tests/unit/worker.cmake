# Unit tests of the worker: states, pause, resume, restart, with the test plugins.
spool_add_test(test_worker SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_worker.c
               LIBS spool_worker LABELS unit threads)
target_compile_definitions(test_worker PRIVATE
  SPOOL_TEST_PLUGIN_DIR="${CMAKE_BINARY_DIR}/tests/plugins")
add_dependencies(test_worker test_plugins)
