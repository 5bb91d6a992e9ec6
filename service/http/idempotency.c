#include "http/idempotency.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/router.h"
#include "sha256.h"

/* Other expired keys each claim deletes (a string: it is part of the SQL text). */
#define IDEMPOTENCY_PURGE_BATCH "8"

/* Claims the key: a new one, or one whose first use has expired ($4 hours ago), which starts
 * afresh. Each claim also deletes a few other expired keys, the oldest first, skipping any a
 * concurrent claim holds, so the table keeps about one expiry period's keys without a
 * background job (a claim deletes more than it adds). The key being claimed is left to the
 * insert: one statement may not both delete and re-claim a row. */
static const struct db_stmt CLAIM = {
    "idempotency_claim",
    "WITH expired AS (DELETE FROM idempotency_keys WHERE ctid IN ("
    "   SELECT ctid FROM idempotency_keys"
    "   WHERE created_at < now() - make_interval(hours => $4::int)"
    "     AND NOT (scope = $1 AND key = $2)"
    "   ORDER BY created_at LIMIT " IDEMPOTENCY_PURGE_BATCH " FOR UPDATE SKIP LOCKED))"
    " INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3)"
    " ON CONFLICT (scope, key) DO UPDATE SET request_hash = EXCLUDED.request_hash,"
    "   response_status = NULL, response_body = NULL, response_location = NULL,"
    "   response_etag = NULL, created_at = now()"
    " WHERE idempotency_keys.created_at < now() - make_interval(hours => $4::int)"
    " RETURNING 1",
    4};
static const struct db_stmt FETCH = {
    "idempotency_fetch",
    "SELECT request_hash, response_status, response_body, response_location, response_etag"
    " FROM idempotency_keys WHERE scope = $1 AND key = $2",
    2};
static const struct db_stmt STORE = {
    "idempotency_store",
    "UPDATE idempotency_keys SET response_status = $3, response_body = $4,"
    " response_location = $5, response_etag = $6 WHERE scope = $1 AND key = $2",
    6};

static bool key_is_acceptable(const char *key) {
  size_t len = strlen(key);
  if (len == 0 || len > IDEMPOTENCY_KEY_MAX) return false;
  for (size_t i = 0; i < len; i++)
    if (key[i] < 0x21 || key[i] > 0x7E) return false;
  return true;
}

static void scope_of(const struct exchange *x, char *out, size_t size) {
  snprintf(out, size, "%s %s %s", x->actor.subject, x->route->method, x->route->path);
}

static void body_hash(const json_t *body, char out[65]) {
  char *canonical = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
  unsigned char digest[SHA256_LEN] = {0};
  sha256(canonical ? canonical : "", canonical ? strlen(canonical) : 0, digest);
  free(canonical);
  for (unsigned i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

static enum cc_status replay(struct exchange *x, PGresult *row, const char *hash) {
  if (strcmp(PQgetvalue(row, 0, 0), hash) != 0) {
    reply_problem(x, CC_IDEMPOTENCY_KEY_REUSED,
                  "This Idempotency-Key was used for a different request body; use a new key "
                  "for a new request.");
    return CC_IDEMPOTENCY_KEY_REUSED;
  }
  if (!PQgetisnull(row, 0, 3)) reply_header(x, "Location", PQgetvalue(row, 0, 3));
  if (!PQgetisnull(row, 0, 4)) reply_header(x, "ETag", PQgetvalue(row, 0, 4));
  reply_header(x, "Idempotent-Replayed", "true");
  reply_json_text(x, atoi(PQgetvalue(row, 0, 1)), PQgetvalue(row, 0, 2));
  return CC_OK;
}

enum cc_status idempotency_begin(struct exchange *x, struct tx *tx, enum idempotency_state *state) {
  *state = IDEMPOTENCY_NONE;
  const char *key = exchange_header(x, "Idempotency-Key");
  if (!key) return CC_OK;
  if (!key_is_acceptable(key)) {
    reply_problem(x, CC_BAD_REQUEST, "Idempotency-Key must be 1 to %d visible ASCII characters.",
                  IDEMPOTENCY_KEY_MAX);
    return CC_BAD_REQUEST;
  }
  char scope[400], hash[65];
  scope_of(x, scope, sizeof scope);
  body_hash(x->body, hash);
  char ttl_h[16];
  snprintf(ttl_h, sizeof ttl_h, "%d", x->app->config->idempotency_ttl_h);
  const char *params[] = {scope, key, hash, ttl_h};
  PGresult *res = NULL;
  enum cc_status status = tx_exec(tx, &CLAIM, params, &res);
  if (status == CC_OK && PQntuples(res) == 1) {
    *state = IDEMPOTENCY_CLAIMED;
  } else if (status == CC_OK) {
    PQclear(res);
    res = NULL;
    status = tx_exec(tx, &FETCH, params, &res);
    if (status == CC_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 1)) {
      status = replay(x, res, hash);
      if (status == CC_OK) *state = IDEMPOTENCY_REPLAYED;
      PQclear(res);
      return status;
    }
    if (status == CC_OK) status = CC_CONFLICT;
  }
  PQclear(res);
  if (status == CC_CONFLICT)
    reply_problem(x, CC_CONFLICT, "A request with this Idempotency-Key is still in progress.");
  else if (status != CC_OK)
    reply_problem(x, status, NULL);
  return status;
}

enum cc_status idempotency_store(struct exchange *x, struct tx *tx, int http_status,
                                 const char *body, const char *location, const char *etag) {
  const char *key = exchange_header(x, "Idempotency-Key");
  char scope[400], status_text[8];
  scope_of(x, scope, sizeof scope);
  snprintf(status_text, sizeof status_text, "%d", http_status);
  const char *params[] = {scope, key, status_text, body, location, etag};
  return tx_exec(tx, &STORE, params, NULL);
}
