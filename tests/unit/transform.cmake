# Unit tests for runtime/transform: every built-in transform and predicate, with a fake
# host; options go through the real config loader, as a pipeline's would.
spool_add_test(test_transform
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_transform.c
  LIBS spool_transform spool_config
  LABELS unit)

# runtime/json: the allocation-free field scanner, differentially against jansson.
spool_add_test(test_json_scan
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_json_scan.c
  LIBS spool_json_scan PkgConfig::JANSSON
  LABELS unit)

# runtime/json's scanner against the frozen reference (json_scan_ref.c): same answers on
# a generated corpus (seeded; SPOOL_SEED=N reruns one).
spool_add_test(test_json_scan_diff
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_json_scan_diff.c
          ${CMAKE_CURRENT_SOURCE_DIR}/json_scan_ref.c
  LIBS spool_json_scan
  LABELS unit)

# The same against the scanner built with JSON_SCAN_PORTABLE: the byte-loop fallbacks
# that big-endian machines take instead of the little-endian word tricks.
spool_add_test(test_json_scan_diff_portable
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_json_scan_diff.c
          ${CMAKE_CURRENT_SOURCE_DIR}/json_scan_ref.c
          ${PROJECT_SOURCE_DIR}/runtime/json/json_scan.c
  LABELS unit)
target_compile_definitions(test_json_scan_diff_portable PRIVATE JSON_SCAN_PORTABLE)
target_include_directories(test_json_scan_diff_portable PRIVATE
                           ${PROJECT_SOURCE_DIR}/runtime/json)
