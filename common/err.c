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

int err_set(errbuf_t *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        e->code = code;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
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
