#include "util/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "util/strparse.h"

int netaddr_parse(const char *text, struct netaddr *addr, struct gp_err *err)
{
    *addr = (struct netaddr){ 0 };
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text) {
        return gp_err_set(err, -EINVAL, "'%.80s' is not HOST:PORT (e.g. \"127.0.0.1:8080\")", text);
    }
    uint64_t port = 0;
    if (strparse_u64(colon + 1, 65535, &port) != 0) {
        return gp_err_set(err, -EINVAL, "'%.80s': the port must be a number from 0 to 65535", text);
    }
    char host[64];
    size_t hlen = (size_t)(colon - text);
    if (hlen >= sizeof(host)) {
        return gp_err_set(err, -EINVAL, "'%.80s': the host is too long", text);
    }
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
        host[hlen - 1] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr->ss;
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1) {
            return gp_err_set(err, -EINVAL, "'%.80s': '%s' is not an IPv6 address", text, host + 1);
        }
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        addr->len = sizeof(*a6);
        addr->ipv6 = true;
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)&addr->ss;
    if (strcmp(host, "localhost") == 0) {
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
        return gp_err_set(err, -EINVAL,
                          "'%.80s': '%s' is not an IPv4 address, [IPv6] address or localhost", text,
                          host);
    }
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    addr->len = sizeof(*a4);
    return 0;
}

bool netaddr_is_loopback(const struct netaddr *addr)
{
    if (addr->ipv6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&addr->ss;
        return IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
    }
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)&addr->ss;
    return (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
}

void netaddr_format(const struct netaddr *addr, unsigned port, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN] = "";
    if (addr->ipv6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&addr->ss;
        inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
        snprintf(buf, size, "[%s]:%u", host, port);
    } else {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)&addr->ss;
        inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
        snprintf(buf, size, "%s:%u", host, port);
    }
}
