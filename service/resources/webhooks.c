/* A partner organisation's webhook (PUT, GET, DELETE /partners/me/webhook): the URL its system
 * registers to be sent its events, signed with a secret the service makes. webhooks/delivery.h
 * does the sending.
 *
 * The secret (32 random bytes, as 64 hex digits) is shown once: in the answer that created the
 * webhook, or that rotated the secret ({"rotate_secret": true}); never in any other answer, a
 * log or the audit trail. Delivery starts after the organisation's latest event when the
 * webhook is registered, or after {"from_seq": n} (0 for every event), which a replacement may
 * give too, to have events sent again. Replacing a webhook also clears its failures and tries at
 * once. */
#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fields.h"
#include "resources/partners.h"
#include "resources/resources.h"
#include "rules/webhook_rules.h"

#define SECRET_BYTES 32
#define LOCATION "/partners/me/webhook"

static const struct field_spec PUT_FIELDS[] = {
    {.name = "url", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 1,
     .max_len = WEBHOOK_URL_MAX},
    {.name = "rotate_secret", .kind = FIELD_BOOL},
    {.name = "from_seq", .kind = FIELD_INTEGER, .min_len = 0, .max_len = INT_MAX},
    {0}};

#define WEBHOOK_JSON                                                                             \
  "json_build_object('url', url, 'delivered_seq', delivered_seq, 'failures', failures,"         \
  " 'next_attempt_at', next_attempt_at, 'last_attempt_at', last_attempt_at, 'last_error',"       \
  " last_error, 'created_at', created_at, 'updated_at', updated_at)::text"

static const struct db_stmt LOCK = {
    "webhooks_lock", "SELECT 1 FROM partner_webhooks WHERE org = $1 FOR UPDATE", 1};
/* Someone creating it at the same moment: no row. */
static const struct db_stmt INSERT = {
    "webhooks_insert",
    "INSERT INTO partner_webhooks (org, url, secret, delivered_seq)"
    " VALUES ($1, $2, $3, $4::bigint) ON CONFLICT (org) DO NOTHING RETURNING " WEBHOOK_JSON,
    4};
/* $3 a new secret or NULL, $4 a new position or NULL. Drops a delivery's lease: its outcome,
 * for the old URL or secret, no longer counts. */
static const struct db_stmt REPLACE = {
    "webhooks_replace",
    "UPDATE partner_webhooks SET url = $2, secret = coalesce($3, secret),"
    " delivered_seq = coalesce($4::bigint, delivered_seq), failures = 0, last_error = NULL,"
    " next_attempt_at = now(), lease_id = NULL, lease_until = NULL, updated_at = now()"
    " WHERE org = $1 RETURNING " WEBHOOK_JSON,
    4};
static const struct db_stmt SELECT = {
    "webhooks_select", "SELECT " WEBHOOK_JSON " FROM partner_webhooks WHERE org = $1", 1};
static const struct db_stmt DELETE = {
    "webhooks_delete", "DELETE FROM partner_webhooks WHERE org = $1 RETURNING url", 1};

static const char NONE[] = "Your organisation has no webhook: register one with PUT.";

static bool new_secret(char out[2 * SECRET_BYTES + 1]) {
  unsigned char bytes[SECRET_BYTES];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return false;
  for (size_t i = 0; i < sizeof bytes; i++) snprintf(out + 2 * i, 3, "%02x", bytes[i]);
  OPENSSL_cleanse(bytes, sizeof bytes);
  return true;
}

static enum cc_status audit_webhook(struct exchange *x, struct tx *tx, const char *action,
                                    const char *org, json_t *details) {
  struct audit_event event = {.action = action, .resource_type = "partner_webhook",
                              .resource_id = org, .outcome = "success", .details = details};
  enum cc_status status = audit_append(tx, &x->actor, &event);
  json_decref(details);
  return status;
}

/* Validates the body; the position also against the organisation's latest event. */
static bool check_body(struct exchange *x, const struct partner_org *org) {
  struct field_errors errors = {0};
  fields_validate(x->body, PUT_FIELDS, VALIDATE_CREATE, "", &errors);
  const char *url = json_string_value(json_object_get(x->body, "url")), *reason = NULL;
  if (url && !errors.count &&
      webhook_url_check(url, x->app->config->webhook.allow_http_loopback, &reason) ==
          WEBHOOK_URL_BAD)
    field_errors_add(&errors, "/url", NULL, "%s", reason);
  const json_t *from = json_object_get(x->body, "from_seq");
  if (json_is_integer(from) && json_integer_value(from) > org->last_event_seq)
    field_errors_add(&errors, "/from_seq", NULL,
                     "must be from 0 to your organisation's latest event, %lld",
                     org->last_event_seq);
  if (!errors.count) return true;
  reply_validation(x, &errors);
  return false;
}

void webhooks_put(struct exchange *x) {
  struct tx tx;
  struct partner_org org;
  PGresult *lock = NULL, *res = NULL;
  json_t *reply = NULL;
  char secret[2 * SECRET_BYTES + 1] = "", from_text[24], origin[WEBHOOK_URL_MAX + 1];
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    goto done;
  }
  if (!partner_caller_org(x, &tx, &org) || !check_body(x, &org)) goto done;
  const char *url = json_string_value(json_object_get(x->body, "url"));
  bool rotate = json_is_true(json_object_get(x->body, "rotate_secret"));
  const json_t *from = json_object_get(x->body, "from_seq");
  if (from) snprintf(from_text, sizeof from_text, "%" JSON_INTEGER_FORMAT, json_integer_value(from));
  webhook_url_origin(url, origin, sizeof origin);

  status = tx_exec(&tx, &LOCK, (const char *const[]){org.code}, &lock);
  bool exists = status == CC_OK && PQntuples(lock) == 1;
  if (status == CC_OK && (!exists || rotate) && !new_secret(secret)) status = CC_INTERNAL;
  if (status == CC_OK && exists) {
    status = tx_exec(&tx, &REPLACE,
                     (const char *const[]){org.code, url, rotate ? secret : NULL,
                                           from ? from_text : NULL},
                     &res);
  } else if (status == CC_OK) {
    char start[24];
    snprintf(start, sizeof start, "%lld", org.last_event_seq);
    status = tx_exec(&tx, &INSERT,
                     (const char *const[]){org.code, url, secret, from ? from_text : start}, &res);
    if (status == CC_OK && PQntuples(res) != 1) {
      reply_problem(x, CC_CONFLICT,
                    "Your organisation's webhook was being registered at the same time; try "
                    "again.");
      goto done;
    }
  }
  if (status == CC_OK)
    status = audit_webhook(x, &tx, exists ? "update" : "create", org.code,
                           json_pack("{s:s, s:b, s:o}", "origin", origin, "secret_rotated",
                                     exists && rotate, "from_seq",
                                     from ? json_integer(json_integer_value(from)) : json_null()));
  if (status == CC_OK) {
    reply = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    if (!reply || (secret[0] && json_object_set_new(reply, "secret", json_string(secret)) != 0))
      status = CC_INTERNAL;
  }
  if (status == CC_OK) status = tx_commit(&tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    goto done;
  }
  if (!exists) reply_header(x, "Location", LOCATION);
  reply_json(x, exists ? 200 : 201, reply);
  reply = NULL;
done:
  OPENSSL_cleanse(secret, sizeof secret);
  json_decref(reply);
  PQclear(lock);
  PQclear(res);
  tx_end(&tx);
}

void webhooks_get(struct exchange *x) {
  struct tx tx;
  struct partner_org org;
  PGresult *res = NULL;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
  } else if (partner_caller_org(x, &tx, &org)) {
    status = tx_exec(&tx, &SELECT, (const char *const[]){org.code}, &res);
    if (status == CC_OK) status = tx_commit(&tx);
    if (status != CC_OK)
      reply_problem(x, status, NULL);
    else if (PQntuples(res) == 0)
      reply_problem(x, CC_NOT_FOUND, NONE);
    else
      reply_json_text(x, 200, PQgetvalue(res, 0, 0));
  }
  PQclear(res);
  tx_end(&tx);
}

void webhooks_delete(struct exchange *x) {
  struct tx tx;
  struct partner_org org;
  PGresult *res = NULL;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
  } else if (partner_caller_org(x, &tx, &org)) {
    status = tx_exec(&tx, &DELETE, (const char *const[]){org.code}, &res);
    bool found = status == CC_OK && PQntuples(res) == 1;
    if (found) {
      char origin[WEBHOOK_URL_MAX + 1];
      webhook_url_origin(PQgetvalue(res, 0, 0), origin, sizeof origin);
      status = audit_webhook(x, &tx, "delete", org.code, json_pack("{s:s}", "origin", origin));
    }
    if (status == CC_OK && found) status = tx_commit(&tx);
    if (status != CC_OK)
      reply_problem(x, status, NULL);
    else if (!found)
      reply_problem(x, CC_NOT_FOUND, NONE);
    else
      reply_no_content(x);
  }
  PQclear(res);
  tx_end(&tx);
}
