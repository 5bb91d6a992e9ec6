#include <string.h>

#include "check.h"
#include "rules/webhook_rules.h"

static enum webhook_url_kind kind(const char *url, bool loopback) {
  const char *reason = NULL;
  enum webhook_url_kind k = webhook_url_check(url, loopback, &reason);
  CHECK((k == WEBHOOK_URL_BAD) == (reason != NULL));
  return k;
}

static void test_https_urls_are_accepted(void) {
  CHECK(kind("https://hooks.leeds.gov.uk/carecoord", false) == WEBHOOK_URL_HTTPS);
  CHECK(kind("https://hooks.example.org:8443/in?channel=mh", false) == WEBHOOK_URL_HTTPS);
  CHECK(kind("https://192.0.2.10/hook", false) == WEBHOOK_URL_HTTPS);
  CHECK(kind("https://[2001:db8::1]:443/hook", false) == WEBHOOK_URL_HTTPS);
  CHECK(kind("https://example.org", false) == WEBHOOK_URL_HTTPS);
  CHECK(kind("https://example.org/a%20b", false) == WEBHOOK_URL_HTTPS);
}

static void test_everything_else_is_refused(void) {
  const char *bad[] = {
      "",
      "hooks.example.org/in",
      "ftp://example.org/in",
      "HTTPS://example.org/in",              /* the scheme is matched as written */
      "http://example.org/in",               /* plain http */
      "http://127.0.0.1:8080/in",            /* plain http without the test setting */
      "https://user:pw@example.org/in",      /* userinfo */
      "https://user@example.org/in",
      "https://example.org:99999/in",        /* port out of range */
      "https://example.org:/in",
      "https://example.org:80a/in",
      "https:///in",                         /* no host */
      "https://",
      "https://exa mple.org/in",             /* space */
      "https://example.org/in\nx",           /* control character */
      "https://ex\xc3\xa4mple.org/",         /* not ASCII */
      "https://example..org/",
      "https://.example.org/",
      "https://ex_ample.org/",
      "https://[::1/in",                     /* unclosed IPv6 literal */
      "https://[not-v6]/in",
      "https://example.org/in#frag",         /* fragment */
      "https://example.org\\@evil.example/", /* backslash in the authority */
      "javascript:alert(1)",
      NULL,
  };
  for (size_t i = 0; bad[i]; i++) {
    if (kind(bad[i], false) != WEBHOOK_URL_BAD) {
      checks_failed++;
      fprintf(stderr, "accepted: %s\n", bad[i]);
    }
  }
  const char *reason = NULL;
  CHECK(webhook_url_check(NULL, false, &reason) == WEBHOOK_URL_BAD);
  char longest[WEBHOOK_URL_MAX + 2];
  memset(longest, 'a', sizeof longest - 1);
  longest[sizeof longest - 1] = '\0';
  memcpy(longest, "https://example.org/", 20);
  CHECK(kind(longest, false) == WEBHOOK_URL_BAD); /* 2001 characters */
  longest[WEBHOOK_URL_MAX] = '\0';
  CHECK(kind(longest, false) == WEBHOOK_URL_HTTPS); /* 2000 */
}

static void test_the_test_setting_allows_only_loopback_http(void) {
  CHECK(kind("http://127.0.0.1:8080/in", true) == WEBHOOK_URL_HTTP_LOOPBACK);
  CHECK(kind("http://127.0.0.1/in", true) == WEBHOOK_URL_HTTP_LOOPBACK);
  CHECK(kind("http://[::1]:9000/in", true) == WEBHOOK_URL_HTTP_LOOPBACK);
  CHECK(kind("https://example.org/in", true) == WEBHOOK_URL_HTTPS);
  CHECK(kind("http://localhost:8080/in", true) == WEBHOOK_URL_BAD);
  CHECK(kind("http://127.0.0.2:8080/in", true) == WEBHOOK_URL_BAD);
  CHECK(kind("http://127.0.0.1.evil.example/in", true) == WEBHOOK_URL_BAD);
  CHECK(kind("http://10.0.0.1/in", true) == WEBHOOK_URL_BAD);
  CHECK(kind("http://user@127.0.0.1:8080/in", true) == WEBHOOK_URL_BAD);
}

static void test_the_origin_leaves_out_path_and_query(void) {
  char origin[WEBHOOK_URL_MAX + 1];
  webhook_url_origin("https://hooks.example.org:8443/in?token=abc", origin, sizeof origin);
  CHECK_STR(origin, "https://hooks.example.org:8443");
  webhook_url_origin("https://example.org?x=1", origin, sizeof origin);
  CHECK_STR(origin, "https://example.org");
  webhook_url_origin("http://[::1]:9000/in", origin, sizeof origin);
  CHECK_STR(origin, "http://[::1]:9000");
}

static void test_backoff_doubles_up_to_the_cap(void) {
  CHECK(webhook_backoff_ms(0, 1000, 60000) == 0);
  CHECK(webhook_backoff_ms(-3, 1000, 60000) == 0);
  CHECK(webhook_backoff_ms(1, 1000, 60000) == 1000);
  CHECK(webhook_backoff_ms(2, 1000, 60000) == 2000);
  CHECK(webhook_backoff_ms(3, 1000, 60000) == 4000);
  CHECK(webhook_backoff_ms(6, 1000, 60000) == 32000);
  CHECK(webhook_backoff_ms(7, 1000, 60000) == 60000);
  CHECK(webhook_backoff_ms(1000000, 1000, 60000) == 60000); /* no overflow */
  CHECK(webhook_backoff_ms(2147483647, 5000, 3600000) == 3600000);
  CHECK(webhook_backoff_ms(1, 5000, 3000) == 3000); /* a cap below the base wins */
  for (int n = 1; n < 40; n++)
    CHECK(webhook_backoff_ms(n + 1, 700, 86400000) >= webhook_backoff_ms(n, 700, 86400000));
}

static void test_signature_is_hmac_sha256_of_time_and_body(void) {
  char sig[WEBHOOK_SIGNATURE_MAX];
  const char *body = "{\"events\":[]}";
  /* Python: hmac.new(secret, b"1700000000." + body, hashlib.sha256).hexdigest() */
  CHECK(webhook_signature("whsec-test-secret-0123456789abcdef", 1700000000, body, strlen(body),
                          sig));
  CHECK_STR(sig,
            "t=1700000000,v1=810ec30f42415a37315b4e7e4f05db2abfc7457c2677798a7d05854fad37001e");
  CHECK(webhook_signature("another-secret-of-thirty-two-bytes", 1700000000, body, strlen(body),
                          sig));
  CHECK(strcmp(sig, "t=1700000000,v1=810ec30f42415a37315b4e7e4f05db2abfc7457c2677798a7d05854fad37001e") != 0);
}

int main(void) {
  test_https_urls_are_accepted();
  test_everything_else_is_refused();
  test_the_test_setting_allows_only_loopback_http();
  test_the_origin_leaves_out_path_and_query();
  test_backoff_doubles_up_to_the_cap();
  test_signature_is_hmac_sha256_of_time_and_body();
  return checks_report();
}
