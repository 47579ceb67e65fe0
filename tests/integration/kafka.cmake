# Issue 12 on librdkafka's mock cluster (a separate process, 3 brokers): two workers
# sharing the flagship's core with a SIGKILL and a broker outage, and the exactly-once
# suite with its topics on Kafka.
if(SPOOL_CONNECTOR_KAFKA AND SPOOL_CONNECTOR_POSTGRES AND SPOOL_CONNECTOR_SQLITE AND
   SPOOL_CONNECTOR_GENERATOR)
  add_test(NAME integration_kafka_scale
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/kafka_scale.sh $<TARGET_FILE:spool>
                   ${PROJECT_SOURCE_DIR} $<TARGET_FILE:kafka_mock_cluster>)
  set_tests_properties(integration_kafka_scale PROPERTIES LABELS "integration;kafka"
                       TIMEOUT 300)
endif()
if(SPOOL_CONNECTOR_KAFKA)
  add_test(NAME integration_exactly_once_kafka
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/exactly_once.sh $<TARGET_FILE:spool>
                   ${PROJECT_SOURCE_DIR} ${SPOOL_TEST_PLUGIN_DIR}
                   $<TARGET_FILE:kafka_mock_cluster>)
  set_tests_properties(integration_exactly_once_kafka PROPERTIES LABELS "integration;kafka"
                       TIMEOUT 300
                       ENVIRONMENT "EO_BACKEND=kafka;EO_ROUNDS=3;EO_COUNT=10000")
endif()
