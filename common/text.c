/*
 * text.c — growable text and JSON values (see text.h).
 */
#include "text.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void text_printf(text_t *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = t->cap - t->len;
        int n = vsnprintf(t->data ? t->data + t->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < room) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 4096;
        while (cap - t->len <= (size_t)n)
            cap *= 2;
        char *p = realloc(t->data, cap);
        if (!p) {
            t->failed = true;
            return;
        }
        t->data = p;
        t->cap = cap;
    }
}

void text_json_str(text_t *t, const char *s)
{
    if (!s) {
        text_printf(t, "null");
        return;
    }
    text_printf(t, "\"");
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            text_printf(t, "\\%c", ch);
        else if (ch < 0x20)
            text_printf(t, "\\u%04x", ch);
        else
            text_printf(t, "%c", ch);
    }
    text_printf(t, "\"");
}

void text_json_num(text_t *t, double v)
{
    if (isfinite(v))
        text_printf(t, "%.10g", v);
    else
        text_printf(t, "null");
}

void text_free(text_t *t)
{
    free(t->data);
    *t = (text_t){0};
}
