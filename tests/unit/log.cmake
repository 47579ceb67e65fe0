# Unit tests of the built-in log, its checkpoints and their util helpers.
spool_add_test(test_crc32c SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_crc32c.c
               LIBS spool_util LABELS unit)
spool_add_test(test_log_codec SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_log_codec.c
               LIBS spool_log LABELS unit)
spool_add_test(test_log_store SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_log_store.c
               LIBS spool_log LABELS unit threads)
spool_add_test(test_log_recovery SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_log_recovery.c
               LIBS spool_log LABELS unit)
spool_add_test(test_log_commit SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_log_commit.c
               LIBS spool_log LABELS unit threads)
spool_add_test(test_ckpt SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ckpt.c
               LIBS spool_ckpt LABELS unit)
spool_add_test(test_log_segments SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_log_segments.c
               LIBS spool_log LABELS unit threads)
spool_add_test(test_log_crash SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_log_crash.c
               LIBS spool_log LABELS unit chaos)
