/* A bounded cache of verified bearer tokens.
 *
 * Verifying an RS256 token costs far more than the rest of a request's work in this process
 * (libjwt decodes the PEM key through OpenSSL's decoder framework on every call), and a client
 * sends the same token with every request until it expires. So once a token has passed every
 * check, the principal it yields is remembered under the SHA-256 of the token text until the
 * token expires (exp plus the configured leeway). A different token text is a different entry:
 * nothing but a SHA-256 collision could make an unverified token look verified. Tokens
 * themselves are never stored.
 *
 * The cache is set-associative (SETS of WAYS entries; a full set gives up the entry that
 * expires first), with one lock per set, so a lookup is a hash, a short locked scan and a
 * copy. Key rotation needs a restart (README "Authentication"), which also empties the cache. */
#ifndef CARECOORD_TOKEN_CACHE_H
#define CARECOORD_TOKEN_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "auth/principal.h"

struct token_cache;

struct token_cache_stats {
  unsigned long hits, misses;
  size_t capacity;
};

/* A cache of at most capacity entries (rounded down to whole sets); NULL when capacity is 0
 * (caching disabled) or memory is short. Every function accepts a NULL cache. */
struct token_cache *token_cache_new(size_t capacity);
void token_cache_free(struct token_cache *cache);

/* Whether token was verified and is still valid at now; fills *principal when it was. */
bool token_cache_get(struct token_cache *cache, const char *token, time_t now,
                     struct principal *principal);

/* Remembers that token yields principal until valid_until (exclusive). */
void token_cache_put(struct token_cache *cache, const char *token, time_t valid_until,
                     const struct principal *principal);

void token_cache_stats(struct token_cache *cache, struct token_cache_stats *out);

#endif
