/*
 * text.h — a growable text buffer, and JSON values written into one.
 *
 * For text built once and sent or written whole: envd's /metrics and HTTP
 * replies, agentd's summary.json and the options object in it. Appending
 * never fails loudly: when memory runs out the buffer keeps what it had
 * and sets failed, which the writer checks once at the end.
 */
#ifndef TEXT_H
#define TEXT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct text {
    char *data; /* NUL-terminated once anything was appended */
    size_t len, cap;
    bool failed; /* an append ran out of memory */
} text_t;

void text_printf(text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A JSON string for s (RFC 8259: quote, backslash and control characters
 * escaped, other bytes as they are), or null when s is NULL. */
void text_json_str(text_t *t, const char *s);

/* A JSON number (%.10g), or null for NaN and infinities, which JSON lacks. */
void text_json_num(text_t *t, double v);

/* Frees the buffer; t is empty again. */
void text_free(text_t *t);

#endif
