/* crash.h - "CALLBACK:N" kill switches shared by the test plugins. */
#ifndef SPOOL_TEST_CRASH_H
#define SPOOL_TEST_CRASH_H

#include <signal.h>
#include <stdio.h>
#include <string.h>

typedef struct crash_point {
    char callback[16];
    long at;
    long hits;
} crash_point;

/* Parses "poll:7" (an empty or NULL spec disarms). Returns 0, -1 when malformed. */
static inline int crash_parse(crash_point *c, const char *spec)
{
    memset(c, 0, sizeof(*c));
    if (spec == NULL || *spec == '\0')
        return 0;
    return sscanf(spec, "%15[^:]:%ld", c->callback, &c->at) == 2 && c->at > 0 ? 0 : -1;
}

/* Kills the process on the Nth call of the named callback. */
static inline void crash_maybe(crash_point *c, const char *callback)
{
    if (c->at > 0 && strcmp(c->callback, callback) == 0 && ++c->hits == c->at) {
        fprintf(stderr, "test plugin: crash point %s:%ld reached, SIGKILL\n", callback,
                c->at);
        raise(SIGKILL);
    }
}

#endif
