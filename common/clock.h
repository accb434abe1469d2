/*
 * clock.h — the monotonic clock both processes time things with.
 *
 * CLOCK_MONOTONIC never jumps with the wall clock, so timeouts, backoffs,
 * rates and "seconds to solve" stay right across NTP steps. One reading
 * in three units, for the three kinds of caller: ZeroMQ-style timeouts in
 * milliseconds, latency in nanoseconds, reports in seconds.
 */
#ifndef CLOCK_H
#define CLOCK_H

#include <stdint.h>

uint64_t clock_ns(void);
uint64_t clock_ms(void);
double clock_s(void);

#endif
