/* What any answer of verifier_check must look like (the JWT harnesses). */
#ifndef CARECOORD_FUZZ_PRINCIPAL_CHECK_H
#define CARECOORD_FUZZ_PRINCIPAL_CHECK_H

#include "auth/jwt.h"
#include "auth/roles.h"
#include "fuzz.h"

/* A refusal gives a reason and an empty principal; an acceptance a subject of
 * 1..PRINCIPAL_SUBJECT_MAX characters, an org of at most PRINCIPAL_ORG_MAX, known roles only
 * and their PostgreSQL array literal. */
static inline void check_principal(enum token_result result, const struct principal *p,
                                   const char *reason) {
  static const struct principal EMPTY;
  if (result != TOKEN_VALID) {
    FUZZ_REQUIRE(reason && *reason);
    FUZZ_REQUIRE(memcmp(p, &EMPTY, sizeof EMPTY) == 0);
    return;
  }
  size_t len = strnlen(p->subject, sizeof p->subject);
  FUZZ_REQUIRE(len >= 1 && len <= PRINCIPAL_SUBJECT_MAX);
  FUZZ_REQUIRE(strnlen(p->org, sizeof p->org) <= PRINCIPAL_ORG_MAX);
  FUZZ_REQUIRE((p->roles & ~(ROLE_COORDINATOR | ROLE_LEAD_PROFESSIONAL | ROLE_MANAGER |
                             ROLE_PARTNER | ROLE_REPORTING)) == 0);
  size_t literal = strnlen(p->roles_literal, sizeof p->roles_literal);
  FUZZ_REQUIRE(literal >= 2 && literal < sizeof p->roles_literal);
  FUZZ_REQUIRE(p->roles_literal[0] == '{' && p->roles_literal[literal - 1] == '}');
}

/* The configuration both harnesses verify against: the clock is fixed and the cache of verified
 * tokens is off, so that each input is judged alone. */
#define FUZZ_NOW ((time_t)1780272000) /* 2026-06-01T00:00:00Z */
#define FUZZ_ISSUER "https://idp.example.nhs.uk"
#define FUZZ_AUDIENCE "carecoord"

/* Writes text to a new temporary file and returns its path (static storage), for verifier_new,
 * which reads keys from files. */
static inline const char *fuzz_temp_file(const char *text) {
  static char path[64];
  snprintf(path, sizeof path, "/tmp/carecoord-fuzz.XXXXXX");
  int fd = mkstemp(path);
  if (fd < 0) abort();
  FILE *f = fdopen(fd, "w");
  if (!f || fputs(text, f) == EOF || fclose(f) != 0) abort();
  return path;
}

#endif
