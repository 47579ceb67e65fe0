# Unit tests of runtime/backend: the builtin backend behind backend.h.
spool_add_test(test_backend SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_backend.c
               LIBS spool_backend LABELS unit threads)
