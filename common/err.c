/*
 * err.c — names for the project's error codes and the errbuf helpers.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

const char *err_name(int code)
{
    switch (code) {
    case ERR_OK: return "OK";
    case ERR_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case ERR_NOT_FOUND: return "NOT_FOUND";
    case ERR_FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case ERR_RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case ERR_VERSION_MISMATCH: return "VERSION_MISMATCH";
    case ERR_UNAVAILABLE: return "UNAVAILABLE";
    case ERR_INTERNAL: return "INTERNAL";
    case ERR_IO: return "IO";
    case ERR_TIMEOUT: return "TIMEOUT";
    case ERR_CORRUPT: return "CORRUPT";
    case ERR_NOMEM: return "NOMEM";
    default: return "UNKNOWN";
    }
}

/* A message cut at ERR_MSG_MAX may end inside a multi-byte character. It
 * travels in a proto3 string, which must be UTF-8 (strict parsers refuse
 * the whole reply otherwise), so the partial character is dropped. */
static void trim_partial_utf8(char *msg, size_t len)
{
    size_t i = len;
    while (i > 0 && ((unsigned char)msg[i - 1] & 0xc0) == 0x80)
        i--;
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)msg[i - 1];
    size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    if (len - (i - 1) < need)
        msg[i - 1] = '\0';
}

int err_set(errbuf_t *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        e->code = code;
        va_start(ap, fmt);
        int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        if (n >= (int)sizeof e->msg)
            trim_partial_utf8(e->msg, sizeof e->msg - 1);
    }
    return code;
}

void err_clear(errbuf_t *e)
{
    if (e) {
        e->code = ERR_OK;
        e->msg[0] = '\0';
    }
}
