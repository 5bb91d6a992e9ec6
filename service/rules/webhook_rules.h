/* Webhooks of the partner exchange: which URLs a partner may register, the wait between
 * failed deliveries, and the signature of a delivery. Pure: no database, no clock, no network.
 *
 * A URL is https:// with a host (a name, an IPv4 address or a bracketed IPv6 address) and an
 * optional port, path and query: no user name or password, no fragment, nothing but printable
 * ASCII, at most WEBHOOK_URL_MAX characters. Only with allow_http_loopback (a setting for tests)
 * may it also be http:// to 127.0.0.1 or [::1].
 *
 * After the n-th failure in a row the next attempt waits min(base * 2^(n-1), cap).
 *
 * A delivery of body at unix time t is signed "t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>",
 * the key being the secret's text as given to the partner. */
#ifndef CARECOORD_WEBHOOK_RULES_H
#define CARECOORD_WEBHOOK_RULES_H

#include <stdbool.h>
#include <stddef.h>

#define WEBHOOK_URL_MAX 2000
#define WEBHOOK_SIGNATURE_MAX 96 /* "t=" 20 digits ",v1=" 64 hex digits, NUL */

enum webhook_url_kind {
  WEBHOOK_URL_BAD,
  WEBHOOK_URL_HTTPS,
  WEBHOOK_URL_HTTP_LOOPBACK, /* only ever returned with allow_http_loopback */
};

/* The kind of url; WEBHOOK_URL_BAD with *reason (static text, for a field error) when it may not
 * be registered. */
enum webhook_url_kind webhook_url_check(const char *url, bool allow_http_loopback,
                                        const char **reason);

/* scheme://host[:port] of a URL that passed webhook_url_check, for the audit trail and logs:
 * never the path or query, which may carry the receiver's own credentials. */
void webhook_url_origin(const char *url, char *out, size_t size);

/* The wait in milliseconds before the next attempt after `failures` failures in a row (0 when
 * none): min(base_ms * 2^(failures-1), cap_ms), without overflow. */
long long webhook_backoff_ms(int failures, long long base_ms, long long cap_ms);

/* The Carecoord-Signature value of body sent at unix time t. False only when the HMAC fails. */
bool webhook_signature(const char *secret, long long t, const char *body, size_t body_len,
                       char out[WEBHOOK_SIGNATURE_MAX]);

#endif
