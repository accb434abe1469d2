/*
 * log.c — timestamped single-line logging to stderr.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

static const char *log_prog = "";
static int log_threshold = LOG_INFO;
static void (*log_hook)(void);
/* As shown on log lines; log_level_name gives them in lower case. */
static const char *const log_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
static const char *const log_flag_names[] = {"error", "warn", "info", "debug"};

void log_init(const char *prog, int level)
{
    log_prog = prog ? prog : "";
    log_threshold = level;
}

void log_set_hook(void (*fn)(void))
{
    log_hook = fn;
}

int log_level_parse(const char *s)
{
    for (int i = LOG_ERROR; i <= LOG_DEBUG; i++)
        if (strcasecmp(s, log_flag_names[i]) == 0)
            return i;
    if (strcasecmp(s, "warning") == 0)
        return LOG_WARN;
    return -1;
}

const char *log_level_name(int level)
{
    return level >= LOG_ERROR && level <= LOG_DEBUG ? log_flag_names[level] : "?";
}

void log_msg(int level, const char *fmt, ...)
{
    if (level > log_threshold || level < 0)
        return;
    struct timeval tv;
    struct tm tm;
    char line[1024];
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (int)(tv.tv_usec / 1000), log_prog, log_names[level]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per line so concurrent processes do not interleave. */
    size_t len = strnlen(line, sizeof line - 2);
    line[len++] = '\n';
    if (log_hook)
        log_hook();
    fwrite(line, 1, len, stderr);
}
