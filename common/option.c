/*
 * option.c — the names of option types, for error messages (see option.h).
 */
#include "option.h"

const char *option_type_name(option_type_t t)
{
    switch (t) {
    case OPTION_BOOL: return "bool";
    case OPTION_INT: return "int";
    case OPTION_DOUBLE: return "double";
    case OPTION_STRING: return "string";
    case OPTION_NONE: return "none";
    }
    return "unknown";
}
