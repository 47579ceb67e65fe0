# package.cmake - the systemd unit and the Debian package (docs/operations.md).
#
# Not in sanitizer or fuzz builds: they would package instrumented binaries, and strace
# would see the sanitizer runtime's own system calls rather than spool's.
if(NOT (SPOOL_SANITIZE OR SPOOL_TSAN OR SPOOL_FUZZ))
  # systemd's side of Type=notify, for the package test's run of `spool worker`.
  add_executable(sd_listen ${PROJECT_SOURCE_DIR}/tests/support/sd_listen.c)

  add_test(NAME integration_systemd_unit
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/systemd_unit.sh $<TARGET_FILE:spool>
                   ${PROJECT_SOURCE_DIR})
  set_tests_properties(integration_systemd_unit PROPERTIES LABELS "integration" TIMEOUT 120)

  add_test(NAME integration_package
           COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/package.sh ${PROJECT_BINARY_DIR}
                   ${PROJECT_SOURCE_DIR} $<TARGET_FILE:sd_listen>)
  # Needs every plugin built: it packages the whole build.
  set_tests_properties(integration_package PROPERTIES LABELS "integration" TIMEOUT 300
                       SKIP_RETURN_CODE 77)
endif()
