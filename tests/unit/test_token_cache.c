/* The cache of verified bearer tokens (auth/token_cache.h): it must never answer for a token it
 * was not given, nor after the token's validity ends, and must stay within its capacity. */
#include <stdio.h>

#include "auth/token_cache.h"
#include "check.h"

#define NOW 1800000000

static struct principal principal_of(const char *subject) {
  struct principal p = {.roles = 4};
  snprintf(p.subject, sizeof p.subject, "%s", subject);
  snprintf(p.roles_literal, sizeof p.roles_literal, "{manager}");
  return p;
}

static void test_a_remembered_token_yields_its_principal(void) {
  struct token_cache *cache = token_cache_new(64);
  struct principal in = principal_of("staff-okafor"), out = {0};
  token_cache_put(cache, "header.claims.signature", NOW + 600, &in);
  CHECK(token_cache_get(cache, "header.claims.signature", NOW, &out));
  CHECK_STR(out.subject, "staff-okafor");
  CHECK_STR(out.roles_literal, "{manager}");
  CHECK(out.roles == 4);
  token_cache_free(cache);
}

static void test_another_token_text_is_not_found(void) {
  struct token_cache *cache = token_cache_new(64);
  struct principal in = principal_of("staff-okafor"), out = principal_of("untouched");
  token_cache_put(cache, "header.claims.signature", NOW + 600, &in);
  /* One character of the signature differs: a forgery must be verified in full. */
  CHECK(!token_cache_get(cache, "header.claims.signaturf", NOW, &out));
  CHECK(!token_cache_get(cache, "header.claims.signature ", NOW, &out));
  CHECK(!token_cache_get(cache, "", NOW, &out));
  CHECK_STR(out.subject, "untouched");
  token_cache_free(cache);
}

static void test_a_token_is_forgotten_when_its_validity_ends(void) {
  struct token_cache *cache = token_cache_new(64);
  struct principal in = principal_of("staff-okafor"), out;
  token_cache_put(cache, "t", NOW + 60, &in);
  CHECK(token_cache_get(cache, "t", NOW + 59, &out));
  CHECK(!token_cache_get(cache, "t", NOW + 60, &out)); /* valid_until is exclusive */
  CHECK(!token_cache_get(cache, "t", NOW + 3600, &out));
  token_cache_free(cache);
}

static void test_putting_the_same_token_again_keeps_one_entry(void) {
  struct token_cache *cache = token_cache_new(4); /* one set of four */
  struct principal a = principal_of("a"), b = principal_of("b"), out;
  token_cache_put(cache, "first", NOW + 600, &a);
  token_cache_put(cache, "first", NOW + 600, &a);
  token_cache_put(cache, "first", NOW + 600, &a);
  token_cache_put(cache, "second", NOW + 900, &b);
  CHECK(token_cache_get(cache, "first", NOW, &out));
  CHECK(token_cache_get(cache, "second", NOW, &out));
  CHECK_STR(out.subject, "b");
  token_cache_free(cache);
}

static void test_a_full_cache_gives_up_the_entry_that_expires_first(void) {
  struct token_cache *cache = token_cache_new(4); /* one set: every token competes */
  struct principal p = principal_of("p"), out;
  token_cache_put(cache, "t1", NOW + 100, &p);
  token_cache_put(cache, "t2", NOW + 400, &p);
  token_cache_put(cache, "t3", NOW + 300, &p);
  token_cache_put(cache, "t4", NOW + 200, &p);
  token_cache_put(cache, "t5", NOW + 500, &p);
  CHECK(!token_cache_get(cache, "t1", NOW, &out));
  CHECK(token_cache_get(cache, "t2", NOW, &out));
  CHECK(token_cache_get(cache, "t3", NOW, &out));
  CHECK(token_cache_get(cache, "t4", NOW, &out));
  CHECK(token_cache_get(cache, "t5", NOW, &out));
  /* An expired entry goes before any live one. */
  token_cache_put(cache, "t6", NOW + 1000, &p);
  CHECK(!token_cache_get(cache, "t4", NOW, &out));
  CHECK(token_cache_get(cache, "t6", NOW + 250, &out));
  token_cache_free(cache);
}

static void test_capacity_bounds_the_entries(void) {
  struct token_cache *cache = token_cache_new(64);
  struct principal p = principal_of("p"), out;
  char token[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(token, sizeof token, "token-%d", i);
    token_cache_put(cache, token, NOW + 600, &p);
  }
  int found = 0;
  for (int i = 0; i < 1000; i++) {
    snprintf(token, sizeof token, "token-%d", i);
    found += token_cache_get(cache, token, NOW, &out);
  }
  CHECK(found > 0 && found <= 64);
  struct token_cache_stats stats;
  token_cache_stats(cache, &stats);
  CHECK(stats.capacity == 64);
  CHECK(stats.hits == (unsigned long)found && stats.misses == 1000UL - (unsigned long)found);
  token_cache_free(cache);
}

static void test_no_cache_remembers_nothing(void) {
  CHECK(token_cache_new(0) == NULL);
  CHECK(token_cache_new(3) == NULL); /* less than one set */
  struct principal p = principal_of("p"), out;
  token_cache_put(NULL, "t", NOW + 600, &p);
  CHECK(!token_cache_get(NULL, "t", NOW, &out));
  struct token_cache_stats stats;
  token_cache_stats(NULL, &stats);
  CHECK(stats.capacity == 0 && stats.hits == 0 && stats.misses == 0);
  token_cache_free(NULL);
}

int main(void) {
  test_a_remembered_token_yields_its_principal();
  test_another_token_text_is_not_found();
  test_a_token_is_forgotten_when_its_validity_ends();
  test_putting_the_same_token_again_keeps_one_entry();
  test_a_full_cache_gives_up_the_entry_that_expires_first();
  test_capacity_bounds_the_entries();
  test_no_cache_remembers_nothing();
  return checks_report();
}
