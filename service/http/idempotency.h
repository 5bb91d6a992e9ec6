/* Idempotency-Key for POST (partners' systems retry). The key is claimed inside the request's
 * own transaction before the work it guards; a concurrent retry blocks on the key's unique index
 * until the first commits, then replays the stored response. Keys are scoped to the caller and
 * route, and bound to the request body (canonical JSON hash). A key expires
 * CARECOORD_IDEMPOTENCY_TTL_H hours after its first use: it is then a new key, and expired keys
 * (with the responses they kept) are deleted as new ones are claimed. */
#ifndef CARECOORD_IDEMPOTENCY_H
#define CARECOORD_IDEMPOTENCY_H

#include "db/db.h"
#include "http/exchange.h"

#define IDEMPOTENCY_KEY_MAX 200

enum idempotency_state {
  IDEMPOTENCY_NONE,     /* no key sent: proceed */
  IDEMPOTENCY_CLAIMED,  /* key claimed: proceed, then idempotency_store before commit */
  IDEMPOTENCY_REPLAYED, /* the earlier response was replied */
};

/* On any status other than CC_OK this has already replied (400 bad key, 422 reused key, 503). */
enum cc_status idempotency_begin(struct exchange *x, struct tx *tx, enum idempotency_state *state);
enum cc_status idempotency_store(struct exchange *x, struct tx *tx, int http_status,
                                 const char *body, const char *location, const char *etag);

#endif
