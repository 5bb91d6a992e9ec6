/* Bearer-token verification.
 *
 * libjwt 1.10 has no validation API and its jwt_decode trusts the token's own header: with a
 * NULL key it checks no signature, and given an RSA public key it will verify an HS256 token
 * whose HMAC secret is that key's PEM. So this module decides the algorithm itself: each
 * configured key has exactly one algorithm (RS256 for RSA, ES256 for EC P-256, HS256 only for an
 * explicitly configured development secret); the header's `alg` must equal it before the token
 * is decoded, always with that key; then every claim is checked here. */
#ifndef CARECOORD_JWT_H
#define CARECOORD_JWT_H

#include <stddef.h>
#include <time.h>

#include "auth/principal.h"
#include "auth/token_cache.h"
#include "config.h"

#define TOKEN_MAX_LEN 8192

struct verifier;

/* Loads the key source named by the configuration. Returns NULL (with a message on stderr
 * naming the variable) when none, or an unusable one, is configured. */
struct verifier *verifier_new(const struct config *cfg);
void verifier_free(struct verifier *v);

enum token_result {
  TOKEN_VALID,
  TOKEN_INVALID, /* malformed, wrong algorithm or key, bad signature, or a claim check failed */
};

/* Verifies token at time now and fills principal. On TOKEN_INVALID, reason (a short phrase for
 * the server log, never containing the token) says why. A token that passed every check is
 * remembered until it expires (CARECOORD_JWT_CACHE_SIZE, auth/token_cache.h), so a client's
 * next requests skip the signature check. */
enum token_result verifier_check(const struct verifier *v, const char *token, time_t now,
                                 struct principal *principal, const char **reason);

/* How often the cache of verified tokens answered, for the metrics. */
void verifier_cache_stats(const struct verifier *v, struct token_cache_stats *out);

#endif
