# The kafka backend against librdkafka's mock cluster (in process, 3 brokers). Not
# labelled `threads` although it starts one thread for the broker outage: librdkafka
# starts its own threads with C11 thrd_create, which this ThreadSanitizer does not
# intercept, so the first rd_kafka_new() crashes inside TSan's allocator. It runs in the
# plain and the ASan builds.
pkg_check_modules(RDKAFKA_T REQUIRED IMPORTED_TARGET rdkafka)
spool_add_test(test_backend_kafka SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_backend_kafka.c
               LIBS spool_backend PkgConfig::RDKAFKA_T Threads::Threads
               LABELS "unit;kafka")
set_tests_properties(test_backend_kafka PROPERTIES TIMEOUT 240)
