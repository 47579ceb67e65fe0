# SpoolOptions.cmake - every build switch in one place.
option(SPOOL_BUILD_TESTS "Build the cmocka tests and register them with ctest" ON)
option(SPOOL_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(SPOOL_TSAN "Build with ThreadSanitizer" OFF)
option(SPOOL_FUZZ "Build the libFuzzer targets (needs clang)" OFF)

# One switch per connector, so that a minimal build is possible.
option(SPOOL_CONNECTOR_FILE "Build the file source and sink" ON)
option(SPOOL_CONNECTOR_STDOUT "Build the stdout sink" ON)
option(SPOOL_CONNECTOR_POSTGRES "Build the postgres source and sink (libpq)" ON)
option(SPOOL_CONNECTOR_POSTGRES_CDC "Build the postgres-cdc source (libpq, logical replication)" ON)
option(SPOOL_CONNECTOR_SQLITE "Build the sqlite source and sink" ON)
option(SPOOL_CONNECTOR_HTTP "Build the http source (libmicrohttpd) and sink (libcurl)" ON)
option(SPOOL_CONNECTOR_KAFKA "Build the kafka source and sink (librdkafka)" ON)
option(SPOOL_CONNECTOR_GENERATOR "Build the generator source" ON)
