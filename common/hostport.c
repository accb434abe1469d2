/*
 * hostport.c — HOST:PORT parsing and the loopback test (see hostport.h).
 */
#include "hostport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* 1 to 5 decimal digits: no sign, no spaces, nothing after them. */
long hostport_port(const char *s, unsigned flags)
{
    long v = 0;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9' && i < 6; i++)
        v = v * 10 + (s[i] - '0');
    if (i == 0 || s[i] || v > 65535 || (v == 0 && !(flags & HOSTPORT_PORT_ZERO)))
        return -1;
    return v;
}

int hostport_parse(const char *s, unsigned flags, hostport_t *out, errbuf_t *e)
{
    const char *colon = strrchr(s, ':');
    if ((flags & HOSTPORT_HOST_OPTIONAL) && (!colon || colon == s)) {
        /* "9100" or ":9100": a port alone, on loopback. */
        const char *port = colon ? colon + 1 : s;
        long p = hostport_port(port, flags);
        if (p < 0)
            return err_set(e, ERR_INVALID_ARGUMENT,
                           "'%s': expected PORT, :PORT or HOST:PORT, the port a number from %d "
                           "to 65535",
                           s, flags & HOSTPORT_PORT_ZERO ? 0 : 1);
        strcpy(out->host, HOSTPORT_DEFAULT_HOST);
        strcpy(out->port, port);
        out->port_num = (unsigned)p;
        return 0;
    }
    if (!colon || colon == s || !colon[1])
        return err_set(e, ERR_INVALID_ARGUMENT, "'%s': expected HOST:PORT", s);
    const char *h = s;
    size_t hlen = (size_t)(colon - s);
    if (h[0] == '[') {
        if (hlen < 3 || h[hlen - 1] != ']')
            return err_set(e, ERR_INVALID_ARGUMENT, "'%s': expected [V6]:PORT", s);
        h++;
        hlen -= 2;
    } else if (memchr(h, ':', hlen) && !(flags & HOSTPORT_ZMQ)) {
        return err_set(e, ERR_INVALID_ARGUMENT, "'%s': write an IPv6 address as [V6]:PORT", s);
    }
    if (hlen >= sizeof out->host)
        return err_set(e, ERR_INVALID_ARGUMENT, "'%s': host name too long", s);
    long p;
    if ((flags & HOSTPORT_ZMQ) && strcmp(colon + 1, "*") == 0) {
        p = 0;
    } else {
        p = hostport_port(colon + 1, flags);
        if (p < 0)
            return err_set(e, ERR_INVALID_ARGUMENT, "'%s': port must be a number from %d to 65535",
                           s, flags & HOSTPORT_PORT_ZERO ? 0 : 1);
    }
    memcpy(out->host, h, hlen);
    out->host[hlen] = '\0';
    strcpy(out->port, p || colon[1] != '*' ? colon + 1 : "*");
    out->port_num = (unsigned)p;
    return 0;
}

char *hostport_format(const hostport_t *hp, char *buf, size_t len)
{
    snprintf(buf, len, strchr(hp->host, ':') ? "[%s]:%s" : "%s:%s", hp->host, hp->port);
    return buf;
}

bool hostport_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) ||
               (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return false;
}

bool hostport_endpoint_is_local(const char *endpoint)
{
    if (strncmp(endpoint, "ipc://", 6) == 0 || strncmp(endpoint, "inproc://", 9) == 0)
        return true;
    hostport_t hp;
    if (strncmp(endpoint, "tcp://", 6) != 0 ||
        hostport_parse(endpoint + 6, HOSTPORT_ZMQ | HOSTPORT_PORT_ZERO, &hp, NULL) < 0)
        return false;
    return hostport_is_loopback(hp.host);
}

int hostport_endpoint_check(const char *endpoint, unsigned flags, errbuf_t *e)
{
    static const char *const paths[] = {"ipc://", "inproc://"};
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(paths[i]);
        if (strncmp(endpoint, paths[i], n) == 0) {
            if (!endpoint[n])
                return err_set(e, ERR_INVALID_ARGUMENT, "'%s': nothing after %s", endpoint,
                               paths[i]);
            return 0;
        }
    }
    if (strncmp(endpoint, "tcp://", 6) != 0)
        return err_set(e, ERR_INVALID_ARGUMENT,
                       "'%s' is not an endpoint: expected tcp://HOST:PORT, ipc://PATH or "
                       "inproc://NAME",
                       endpoint);
    hostport_t hp;
    errbuf_t why;
    if (hostport_parse(endpoint + 6, HOSTPORT_ZMQ | (flags & HOSTPORT_PORT_ZERO), &hp, &why) < 0 ||
        (hp.port_num == 0 && !(flags & HOSTPORT_PORT_ZERO)))
        return err_set(e, ERR_INVALID_ARGUMENT, "'%s' is not tcp://HOST:PORT with a port from %d to 65535%s",
                       endpoint, flags & HOSTPORT_PORT_ZERO ? 0 : 1,
                       flags & HOSTPORT_PORT_ZERO ? " or *" : "");
    if (!hp.host[0])
        return err_set(e, ERR_INVALID_ARGUMENT, "'%s': no host before the port", endpoint);
    return 0;
}
