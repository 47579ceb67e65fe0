# Unit tests for runtime/config (pipeline loading).
spool_add_test(test_config
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_config.c
          ${CMAKE_CURRENT_SOURCE_DIR}/test_config_plugins.c
  LIBS spool_config
  LABELS unit)
