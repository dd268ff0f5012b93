/* Listen addresses written as "HOST:PORT": an IPv4 literal, "[IPv6]" or
 * "localhost", and a port from 0 (any free port) to 65535. */
#ifndef GPULSE_UTIL_NETADDR_H
#define GPULSE_UTIL_NETADDR_H

#include <stdbool.h>
#include <sys/socket.h>

#include "util/common.h"

struct netaddr {
    struct sockaddr_storage ss;
    socklen_t len;
    bool ipv6;
};

/* Parses text into addr. Returns 0, or -EINVAL with err saying what is
 * wrong with it (no port, port out of range, not an address). */
GP_NODISCARD int netaddr_parse(const char *text, struct netaddr *addr, struct gp_err *err);

/* True for 127.0.0.0/8 and ::1: reachable from this machine only. */
bool netaddr_is_loopback(const struct netaddr *addr);

/* Writes the address as "HOST:PORT" ("[::1]:8080" for IPv6) with port. */
void netaddr_format(const struct netaddr *addr, unsigned port, char *buf, size_t size);

#endif
