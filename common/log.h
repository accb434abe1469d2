/*
 * log.h — one line per event on stderr.
 *
 * Lines look like `2026-11-24T00:40:12.123Z envd INFO bound tcp://...`.
 * The level threshold is process-wide and set once at start-up.
 */
#ifndef LOG_H
#define LOG_H

enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Sets the program name shown on each line and the level threshold. */
void log_init(const char *prog, int level);

/* Parses "error", "warn", "info" or "debug" (any case; "warning" too);
 * returns the level or -1. */
int log_level_parse(const char *s);

/* The level's name as log_level_parse reads it ("error" ... "debug"), or
 * "?" for a level out of range. */
const char *log_level_name(int level);

/* fn (NULL: none) runs before each line is written: a program that keeps a
 * status line refreshing in place on a terminal clears it there, so log
 * lines never land in the middle of it. */
void log_set_hook(void (*fn)(void));

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
