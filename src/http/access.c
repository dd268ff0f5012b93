/* Who may ask: the Host a request names (a page that reaches the API
 * through DNS rebinding names its own host), the bearer token, and the
 * files the token and TLS come from. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/http_int.h"
#include "util/netaddr.h"
#include "util/xalloc.h"

/* The largest token, certificate or key file read. */
#define ACCESS_FILE_MAX_BYTES ((size_t)1024 * 1024)

/* The address part of "HOST:PORT" as a Host header writes it: "127.0.0.1",
 * "[::1]". */
static void listen_host(const struct netaddr *addr, char *buf, size_t size)
{
    netaddr_format(addr, 0, buf, size);
    char *colon = strrchr(buf, ':');
    if (colon) {
        *colon = '\0';
    }
}

static bool is_wildcard(const struct netaddr *addr)
{
    static const char v4_any[] = "0.0.0.0";
    static const char v6_any[] = "[::]";
    char host[64];
    listen_host(addr, host, sizeof(host));
    return strcmp(host, addr->ipv6 ? v6_any : v4_any) == 0;
}

int http_access_read_file(const char *path, const char *key, char **out, size_t *len_out,
                          struct gp_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno ? errno : EIO;
        return gp_err_set(err, -e, "%s: cannot read '%s': %s", key, path, strerror(e));
    }
    char *data = xmalloc(ACCESS_FILE_MAX_BYTES + 1);
    size_t len = fread(data, 1, ACCESS_FILE_MAX_BYTES + 1, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed || len > ACCESS_FILE_MAX_BYTES) {
        free(data);
        return gp_err_set(err, failed ? -EIO : -EFBIG, "%s: cannot read '%s': %s", key, path,
                          failed ? "read error" : "larger than 1 MiB");
    }
    data[len] = '\0';
    *out = data;
    if (len_out) {
        *len_out = len;
    }
    return 0;
}

static int load_token(struct http_access *a, const struct config *cfg, struct gp_err *err)
{
    if (cfg->http_token[0] && cfg->http_token_file[0]) {
        return gp_err_set(err, -EINVAL, "http.token and http.token_file are both set: set one");
    }
    const char *key = "http.token";
    if (cfg->http_token_file[0]) {
        key = "http.token_file";
        char *text = NULL;
        int rc = http_access_read_file(cfg->http_token_file, key, &text, NULL, err);
        if (rc || !text) {
            return rc ? rc : -EIO;
        }
        size_t n = strcspn(text, "\r\n");
        text[n] = '\0';
        snprintf(a->token, sizeof(a->token), "%s", text);
        bool fits = n < sizeof(a->token);
        free(text);
        if (!fits) {
            return gp_err_set(err, -EINVAL, "http.token_file: the token in '%s' is longer than %zu",
                              cfg->http_token_file, sizeof(a->token) - 1);
        }
    } else {
        snprintf(a->token, sizeof(a->token), "%s", cfg->http_token);
    }
    /* A token file that holds no token (empty, or a blank first line) is a
     * mistake, never "no token": the agent would serve everyone. */
    if ((a->token[0] || cfg->http_token_file[0]) && !config_token_well_formed(a->token)) {
        a->token[0] = '\0';
        return gp_err_set(err, -EINVAL,
                          "%s: a token is at least %d characters of letters, digits and "
                          "-._~+/= (e.g. from `openssl rand -hex 32`)%s%s",
                          key, CONFIG_TOKEN_MIN_CHARS, cfg->http_token_file[0] ? " in " : "",
                          cfg->http_token_file);
    }
    return 0;
}

int http_access_init(struct http_access *a, const struct config *cfg, const struct netaddr *addr,
                     unsigned port, struct gp_err *err)
{
    *a = (struct http_access){ 0 };
    atomic_store(&a->port, port);
    a->loopback = netaddr_is_loopback(addr);
    a->wildcard = is_wildcard(addr);
    listen_host(addr, a->listen_host, sizeof(a->listen_host));
    gethostname(a->hostname, sizeof(a->hostname) - 1);
    snprintf(a->allowed, sizeof(a->allowed), "%s", cfg->http_allowed_hosts);
    return load_token(a, cfg, err);
}

bool http_access_secret_equal(const char *given, const char *secret)
{
    size_t n = strlen(given);
    size_t m = strlen(secret);
    /* Every byte of the secret is compared whatever the input: the time
     * says nothing about where the first difference is. */
    unsigned diff = n != m;
    for (size_t i = 0; i < m; i++) {
        diff |= (unsigned char)secret[i] ^ (unsigned char)(i < n ? given[i] : 0);
    }
    return diff == 0;
}

static bool name_in_list(const char *name, size_t len, const char *list)
{
    while (*list) {
        list += strspn(list, " ,");
        size_t n = strcspn(list, ",");
        size_t trimmed = n;
        while (trimmed > 0 && list[trimmed - 1] == ' ') {
            trimmed--;
        }
        if (trimmed > 0 && trimmed == len && strncasecmp(list, name, len) == 0) {
            return true;
        }
        list += n;
    }
    return false;
}

static bool is_ip_literal(const char *name, size_t len)
{
    char buf[64];
    unsigned char out[16];
    if (len >= sizeof(buf)) {
        return false;
    }
    if (name[0] == '[' && len > 2) {
        snprintf(buf, sizeof(buf), "%.*s", (int)(len - 2), name + 1);
        return inet_pton(AF_INET6, buf, out) == 1;
    }
    snprintf(buf, sizeof(buf), "%.*s", (int)len, name);
    return inet_pton(AF_INET, buf, out) == 1;
}

/* True when the len bytes at name (no port) may be served. */
static bool host_name_allowed(const struct http_access *a, const char *name, size_t len)
{
    if (len > 1 && name[len - 1] == '.') {
        len--; /* "localhost." is "localhost" */
    }
    if (name_in_list(name, len, a->allowed) || name_in_list(name, len, a->listen_host)) {
        return true;
    }
    if ((a->loopback || a->wildcard) && name_in_list(name, len, "localhost,127.0.0.1,[::1]")) {
        return true;
    }
    /* A rebinding page reaches us through a name it controls, never
     * through an address: on a wildcard every address of this machine is
     * ours, and so is its own name. */
    return !a->loopback &&
           (name_in_list(name, len, a->hostname) || (a->wildcard && is_ip_literal(name, len)));
}

unsigned http_access_check_host(const struct http_access *a, const char *host, bool required,
                                char *why, size_t why_size)
{
    if (!host) {
        snprintf(why, why_size, "an HTTP/1.1 request must have a Host header");
        return required ? 400 : 0;
    }
    size_t len = strlen(host);
    const char *port = NULL;
    if (host[0] == '[') {
        const char *end = strchr(host, ']');
        port = end && end[1] == ':' ? end + 1 : NULL;
        if (!end || (end[1] != '\0' && !port)) {
            snprintf(why, why_size, "the Host header '%.100s' is not a host[:port]", host);
            return 400;
        }
    } else {
        port = strchr(host, ':');
        if (port && strchr(port + 1, ':')) {
            snprintf(why, why_size, "the Host header '%.100s' is not a host[:port]", host);
            return 400;
        }
    }
    size_t name_len = port ? (size_t)(port - host) : len;
    if (port) {
        char *end = NULL;
        errno = 0;
        unsigned long p = strtoul(port + 1, &end, 10);
        if (!isdigit((unsigned char)port[1]) || *end || errno || p > 65535) {
            snprintf(why, why_size, "the Host header '%.100s' has a bad port", host);
            return 400;
        }
        unsigned ours = atomic_load(&a->port);
        if (p != ours) {
            snprintf(why, why_size, "this server listens on port %u, not the Host header's %lu",
                     ours, p);
            return 421;
        }
    }
    if (name_len == 0 || !host_name_allowed(a, host, name_len)) {
        snprintf(why, why_size,
                 "'%.*s' is not a name this server answers to; add it to http.allowed_hosts",
                 (int)(name_len > 100 ? 100 : name_len), host);
        return 421;
    }
    return 0;
}

/* The value of the cookie named name in a Cookie header, copied into buf;
 * false when absent or too long. */
static bool cookie_value(const char *cookies, const char *name, char *buf, size_t size)
{
    size_t name_len = strlen(name);
    while (cookies && *cookies) {
        cookies += strspn(cookies, "; ");
        size_t n = strcspn(cookies, ";");
        if (n > name_len && strncmp(cookies, name, name_len) == 0 && cookies[name_len] == '=') {
            size_t v = n - name_len - 1;
            if (v >= size) {
                return false;
            }
            memcpy(buf, cookies + name_len + 1, v);
            buf[v] = '\0';
            return true;
        }
        cookies += n;
    }
    return false;
}

bool http_access_token_ok(const struct http_access *a, const char *authorization,
                          const char *cookies)
{
    if (!a->token[0]) {
        return true;
    }
    static const char bearer[] = "Bearer ";
    if (authorization && strncasecmp(authorization, bearer, sizeof(bearer) - 1) == 0) {
        const char *t = authorization + sizeof(bearer) - 1;
        t += strspn(t, " ");
        return http_access_secret_equal(t, a->token);
    }
    char given[sizeof(a->token) + 1];
    return cookie_value(cookies, HTTP_TOKEN_COOKIE, given, sizeof(given)) &&
           http_access_secret_equal(given, a->token);
}

/* Answers a token given in the dashboard's address: the right one is kept
 * in a cookie the page's requests then carry, and the browser is sent on
 * to the page without it, so it stays out of the address bar and history. */
static void token_in_address(struct http_request *req, struct http_reply *reply, const char *given)
{
    const struct http_access *a = &req->srv->access;
    if (!http_access_secret_equal(given, a->token)) {
        reply->challenge = true;
        http_reply_error(reply, 401, "token", "the token is wrong");
        return;
    }
    reply->status = 303;
    reply->location = "/";
    snprintf(reply->set_cookie, sizeof(reply->set_cookie),
             "%s=%s; Path=/; Max-Age=2592000; HttpOnly; SameSite=Strict%s", HTTP_TOKEN_COOKIE,
             a->token, req->srv->tls ? "; Secure" : "");
}

bool http_access_admit(struct http_request *req, struct http_reply *reply, const char *version)
{
    const struct http_access *a = &req->srv->access;
    char why[256];
    unsigned status = http_access_check_host(a, http_header(req, "Host"),
                                             strcmp(version, "HTTP/1.0") != 0, why, sizeof(why));
    if (status) {
        http_reply_error(reply, status, NULL, "%s", why);
        return false;
    }
    if (!a->token[0] || strcmp(req->path, "/health") == 0) {
        return true;
    }
    const char *given = strcmp(req->path, "/") == 0 ? http_param(req, "token") : NULL;
    if (given) {
        token_in_address(req, reply, given);
        return false;
    }
    if (!http_access_token_ok(a, http_header(req, "Authorization"), http_header(req, "Cookie"))) {
        reply->challenge = true;
        http_reply_error(reply, 401, NULL,
                         "this server needs its token: send \"Authorization: Bearer TOKEN\", or "
                         "open /?token=TOKEN once in the browser");
        return false;
    }
    return true;
}

/* The first line of a PEM block that a file of kind must hold. */
static bool pem_has(const char *text, const char *label_end)
{
    const char *p = strstr(text, "-----BEGIN ");
    for (; p; p = strstr(p + 1, "-----BEGIN ")) {
        const char *eol = strchr(p, '\n');
        const char *hit = strstr(p, label_end);
        if (hit && (!eol || hit < eol)) {
            return true;
        }
    }
    return false;
}

int http_access_read_pem(const char *path, const char *key, bool private_key, char **out,
                         struct gp_err *err)
{
    int rc = http_access_read_file(path, key, out, NULL, err);
    if (rc || !*out) {
        return rc ? rc : -EIO;
    }
    bool ok = private_key ? pem_has(*out, "PRIVATE KEY-----") : pem_has(*out, "CERTIFICATE-----");
    if (!ok) {
        free(*out);
        *out = NULL;
        return gp_err_set(err, -EINVAL, "%s: '%s' is not a PEM %s (-----BEGIN %s-----)", key, path,
                          private_key ? "private key" : "certificate",
                          private_key ? "PRIVATE KEY" : "CERTIFICATE");
    }
    return 0;
}
