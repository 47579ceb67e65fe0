# The kafka backend against librdkafka's mock cluster (in process, 3 brokers). Uses a
# thread for the broker outage, hence `threads` (TSan).
pkg_check_modules(RDKAFKA_T REQUIRED IMPORTED_TARGET rdkafka)
spool_add_test(test_backend_kafka SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_backend_kafka.c
               LIBS spool_backend PkgConfig::RDKAFKA_T Threads::Threads
               LABELS "unit;kafka;threads")
set_tests_properties(test_backend_kafka PROPERTIES TIMEOUT 240)
