/*
 * procstat.h — what the kernel says about this process, for the standard
 * process_* series of /metrics (the Prometheus client libraries' names and
 * sources): CPU time, resident and virtual memory and start time from
 * /proc/self/stat (with the boot time of /proc/stat), the open descriptors
 * from /proc/self/fd, their limit from getrlimit. The HTTP listener counts
 * descriptors here too, to know its share.
 */
#ifndef PROCSTAT_H
#define PROCSTAT_H

#include <stdint.h>

#include "err.h"

typedef struct procstat {
    double cpu_seconds;      /* user + system, process_cpu_seconds_total */
    double start_time;       /* seconds since the epoch (boot time: whole seconds) */
    uint64_t resident_bytes; /* process_resident_memory_bytes */
    uint64_t virtual_bytes;  /* process_virtual_memory_bytes */
} procstat_t;

/* Reads /proc/self/stat and /proc/stat into *out; ERR_IO naming the file
 * that cannot be read, ERR_CORRUPT for one that does not parse. */
int procstat_read(procstat_t *out, errbuf_t *e);

/* The work of procstat_read on text: stat is /proc/self/stat's line,
 * btime /proc/stat's boot time, ticks sysconf(_SC_CLK_TCK), page the page
 * size. The command name in parentheses may hold anything, ')' and spaces
 * included: the fields are counted from its last ')'. 0, or ERR_CORRUPT. */
int procstat_parse(const char *stat, double btime, long ticks, long page, procstat_t *out,
                   errbuf_t *e);

/* Descriptors open now (/proc/self/fd, not counting the one that reads it;
 * without /proc, probing each below limit, at most 65536), or -1. */
long procstat_open_fds(long limit);

/* The soft RLIMIT_NOFILE (RLIM_INFINITY as it is), or -1. */
double procstat_max_fds(void);

#endif
