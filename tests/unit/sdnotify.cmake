# Unit tests for runtime/util/sdnotify: systemd's notify protocol against a real
# datagram socket (filesystem and abstract addresses) and the watchdog variables.
spool_add_test(test_sdnotify
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_sdnotify.c
  LIBS spool_util
  LABELS unit)
