# The data-directory tools (spool topics|produce|consume|verify) end to end.
add_test(NAME integration_tools
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tools.sh $<TARGET_FILE:spool>)
set_tests_properties(integration_tools PROPERTIES LABELS "integration" TIMEOUT 120)
