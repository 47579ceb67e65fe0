# SpoolOptions.cmake - every build switch in one place.
option(SPOOL_BUILD_TESTS "Build the cmocka tests and register them with ctest" ON)
option(SPOOL_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(SPOOL_TSAN "Build with ThreadSanitizer" OFF)
option(SPOOL_FUZZ "Build the libFuzzer targets (needs clang)" OFF)

# One switch per connector, so that a minimal build is possible.
option(SPOOL_CONNECTOR_FILE "Build the file source and sink" ON)
option(SPOOL_CONNECTOR_STDOUT "Build the stdout sink" ON)
