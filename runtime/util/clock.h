/* clock.h - the monotonic clock in milliseconds, for deadlines and intervals.
 *
 * One definition for the runtime's timeouts (waits, retries, shutdown, log intervals),
 * which all compare values read from this clock with each other. Never read it per
 * record: on some virtual machines a read costs a tenth of a microsecond or more.
 */
#ifndef SPOOL_UTIL_CLOCK_H
#define SPOOL_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t util_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
