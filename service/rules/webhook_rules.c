#include "rules/webhook_rules.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.';
}

/* A host name or IPv4 address: letters, digits, '-' and '.', with no empty label. */
static bool host_name_ok(const char *host, size_t len) {
  if (len == 0 || len > 253 || host[0] == '.' || host[0] == '-') return false;
  for (size_t i = 0; i < len; i++) {
    if (!is_host_char(host[i])) return false;
    if (host[i] == '.' && i + 1 < len && host[i + 1] == '.') return false;
  }
  return true;
}

/* 1..65535 in decimal digits. */
static bool port_ok(const char *port, size_t len) {
  if (len == 0 || len > 5) return false;
  long value = 0;
  for (size_t i = 0; i < len; i++) {
    if (port[i] < '0' || port[i] > '9') return false;
    value = value * 10 + (port[i] - '0');
  }
  return value >= 1 && value <= 65535;
}

/* The end of the authority (host and port) that starts at p. */
static size_t authority_len(const char *p) { return strcspn(p, "/?#"); }

enum webhook_url_kind webhook_url_check(const char *url, bool allow_http_loopback,
                                        const char **reason) {
  static const char HTTPS_ONLY[] = "must be an https:// URL";
  size_t len = url ? strlen(url) : 0;
  bool https = len && strncmp(url, "https://", 8) == 0;
  bool http = len && strncmp(url, "http://", 7) == 0;
  *reason = NULL;
  if (len > WEBHOOK_URL_MAX) {
    *reason = "must be at most 2000 characters long";
    return WEBHOOK_URL_BAD;
  }
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)url[i];
    if (c <= 0x20 || c >= 0x7f) {
      *reason = "must be printable ASCII without spaces (percent-encode anything else)";
      return WEBHOOK_URL_BAD;
    }
  }
  if (!https && !(http && allow_http_loopback)) {
    *reason = HTTPS_ONLY;
    return WEBHOOK_URL_BAD;
  }
  if (strchr(url, '#')) {
    *reason = "must not have a fragment (#...)";
    return WEBHOOK_URL_BAD;
  }
  const char *authority = url + (https ? 8 : 7);
  size_t alen = authority_len(authority);
  if (memchr(authority, '@', alen)) {
    *reason = "must not contain a user name or password";
    return WEBHOOK_URL_BAD;
  }
  const char *host = authority;
  size_t host_len;
  bool host_ok;
  if (alen && authority[0] == '[') { /* [IPv6] */
    const char *close = memchr(authority, ']', alen);
    host_len = close ? (size_t)(close - authority) + 1 : alen;
    char literal[64];
    host_ok = close && host_len - 2 < sizeof literal;
    if (host_ok) {
      memcpy(literal, authority + 1, host_len - 2);
      literal[host_len - 2] = '\0';
      struct in6_addr ignored;
      host_ok = inet_pton(AF_INET6, literal, &ignored) == 1;
    }
  } else {
    const char *colon = memchr(authority, ':', alen);
    host_len = colon ? (size_t)(colon - authority) : alen;
    host_ok = host_name_ok(authority, host_len);
  }
  if (!host_ok) {
    *reason = "must name a valid host";
    return WEBHOOK_URL_BAD;
  }
  if (host_len < alen) {
    if (authority[host_len] != ':' || !port_ok(authority + host_len + 1, alen - host_len - 1)) {
      *reason = "must have a port from 1 to 65535, if any";
      return WEBHOOK_URL_BAD;
    }
  }
  if (https) return WEBHOOK_URL_HTTPS;
  bool loopback = (host_len == 9 && strncmp(host, "127.0.0.1", 9) == 0) ||
                  (host_len == 5 && strncmp(host, "[::1]", 5) == 0);
  if (!loopback) {
    *reason = "must be an https:// URL (http:// is allowed for 127.0.0.1 and [::1] only)";
    return WEBHOOK_URL_BAD;
  }
  return WEBHOOK_URL_HTTP_LOOPBACK;
}

void webhook_url_origin(const char *url, char *out, size_t size) {
  const char *scheme_end = strstr(url, "://");
  size_t len = scheme_end ? (size_t)(scheme_end - url) + 3 : 0;
  len += authority_len(url + len);
  snprintf(out, size, "%.*s", (int)len, url);
}

long long webhook_backoff_ms(int failures, long long base_ms, long long cap_ms) {
  if (failures <= 0 || base_ms <= 0) return 0;
  long long wait = base_ms;
  for (int i = 1; i < failures && wait < cap_ms; i++) wait *= 2;
  return wait < cap_ms ? wait : cap_ms;
}

bool webhook_signature(const char *secret, long long t, const char *body, size_t body_len,
                       char out[WEBHOOK_SIGNATURE_MAX]) {
  char stamp[24];
  int stamp_len = snprintf(stamp, sizeof stamp, "%lld.", t);
  size_t signed_len = (size_t)stamp_len + body_len;
  unsigned char *signed_text = malloc(signed_len ? signed_len : 1);
  if (!signed_text) return false;
  memcpy(signed_text, stamp, (size_t)stamp_len);
  memcpy(signed_text + stamp_len, body, body_len);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  bool ok = HMAC(EVP_sha256(), secret, (int)strlen(secret), signed_text, signed_len, mac,
                 &mac_len) != NULL &&
            mac_len == 32;
  free(signed_text);
  if (!ok) return false;
  int n = snprintf(out, WEBHOOK_SIGNATURE_MAX, "t=%lld,v1=", t);
  for (unsigned i = 0; i < mac_len; i++)
    snprintf(out + n + 2 * i, WEBHOOK_SIGNATURE_MAX - (size_t)n - 2 * i, "%02x", mac[i]);
  return true;
}
