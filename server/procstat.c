/*
 * procstat.c — this process's figures from /proc and getrlimit (see
 * procstat.h). Read at each scrape: a few small files, no state kept.
 */
#include "procstat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int procstat_parse(const char *stat, double btime, long ticks, long page, procstat_t *out,
                   errbuf_t *e)
{
    /* pid (comm) state ppid ...: after the last ')', field 3 is the state;
     * 14 utime, 15 stime (ticks), 22 starttime (ticks after boot),
     * 23 vsize (bytes), 24 rss (pages). proc(5). */
    const char *p = strrchr(stat, ')');
    if (!p || ticks <= 0 || page <= 0)
        return err_set(e, ERR_CORRUPT, "/proc/self/stat: no ')' after the command name");
    unsigned long long f[25] = {0};
    p++;
    for (int field = 3; field <= 24; field++) {
        while (*p == ' ')
            p++;
        if (!*p || *p == '\n')
            return err_set(e, ERR_CORRUPT, "/proc/self/stat: ends before field %d", field);
        if (field == 3) {
            p++; /* the state letter */
            continue;
        }
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10); /* some fields are signed */
        if (errno || end == p || (*end != ' ' && *end != '\n' && *end))
            return err_set(e, ERR_CORRUPT, "/proc/self/stat: field %d is not a number", field);
        f[field] = (unsigned long long)v;
        p = end;
    }
    out->cpu_seconds = (double)(f[14] + f[15]) / (double)ticks;
    out->start_time = btime + (double)f[22] / (double)ticks;
    out->virtual_bytes = f[23];
    out->resident_bytes = f[24] * (unsigned long long)page;
    return 0;
}

/* The "btime" line of /proc/stat: the boot time, whole seconds. */
static int read_btime(double *out, errbuf_t *e)
{
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return err_set(e, ERR_IO, "/proc/stat: %s", strerror(errno));
    char line[256];
    int rc = err_set(e, ERR_CORRUPT, "/proc/stat: no btime line");
    unsigned long long bt;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %llu", &bt) == 1) {
            *out = (double)bt;
            rc = 0;
            break;
        }
    fclose(f);
    return rc;
}

int procstat_read(procstat_t *out, errbuf_t *e)
{
    double btime = 0.0;
    int rc = read_btime(&btime, e);
    if (rc < 0)
        return rc;
    FILE *f = fopen("/proc/self/stat", "re");
    if (!f)
        return err_set(e, ERR_IO, "/proc/self/stat: %s", strerror(errno));
    char line[1024]; /* 52 numbers and a command name of at most 64 bytes */
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    return procstat_parse(line, btime, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE), out, e);
}

long procstat_open_fds(long limit)
{
    long n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        for (struct dirent *de; (de = readdir(d));)
            n += de->d_name[0] != '.';
        closedir(d);
        return n - 1; /* the directory's own */
    }
    if (limit < 0)
        return -1;
    for (long fd = 0; fd < limit && fd < 65536; fd++)
        n += fcntl((int)fd, F_GETFD) >= 0;
    return n;
}

double procstat_max_fds(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    return (double)rl.rlim_cur;
}
