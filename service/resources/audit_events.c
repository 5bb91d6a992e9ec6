/* The audit trail as managers see it (R-AUD-1, R-AUD-2): a filtered, paginated list of events
 * with their chain hashes, a verification of the whole hash chain, and a person's access log.
 * Reading the audit trail is not itself audited. Events are identified by their bigint id;
 * lists run newest first, and a cursor carries the last event id shown. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/chain.h"
#include "http/cursor.h"
#include "resources/record.h"
#include "resources/resources.h"
#include "rules/clocks.h"

static const char *const ACTIONS[] = {"create", "read", "update", "delete", "deny",
                                      "break_glass", "export", NULL};

/* record_list needs a record_type: these lists are not person records (no read event). */
static const struct record_type AUDIT_EVENT = {.resource_type = "audit_event"};
static const struct record_type ACCESS_LOG = {.resource_type = "access_log_entry"};

static const struct db_stmt LIST = {
    "audit_events_list",
    "SELECT e.id, NULL, json_build_object('id', e.id, 'occurred_at', e.occurred_at,"
    " 'actor', e.actor, 'roles', e.roles, 'action', e.action, 'resource_type', e.resource_type,"
    " 'resource_id', e.resource_id, 'service_user_id', e.service_user_id,"
    " 'request_id', e.request_id, 'client_address', e.client_address, 'outcome', e.outcome,"
    " 'details', e.details, 'seq', c.seq, 'hash', c.hash)::text, e.id::text"
    " FROM audit_events e LEFT JOIN audit_chain c ON c.event_id = e.id"
    " WHERE ($1::uuid IS NULL OR e.service_user_id = $1::uuid)"
    "   AND ($2::text IS NULL OR e.actor = $2)"
    "   AND ($3::text IS NULL OR e.action = $3)"
    "   AND ($4::text IS NULL OR e.resource_type = $4)"
    "   AND ($5::timestamptz IS NULL OR e.occurred_at >= $5::timestamptz)"
    "   AND ($6::timestamptz IS NULL OR e.occurred_at < $6::timestamptz)"
    "   AND ($7::bigint IS NULL OR e.id < $7::bigint)"
    /* spelt so that true reads as action = 'break_glass', which audit_events_exceptional_idx
     * serves */
    "   AND ($8::boolean IS NULL OR ($8::boolean AND e.action = 'break_glass')"
    "        OR (NOT $8::boolean AND e.action <> 'break_glass'))"
    " ORDER BY e.id DESC LIMIT $9",
    9};

/* A person's access log: events about them, and list reads whose page showed them. Each kind
 * has its own index (audit_events_service_user_idx; the GIN indexes on details -> 'ids' and
 * details -> 'service_user_ids'), so each is a branch that finds its newest page on its own,
 * and the page is the newest of those: one OR over the three could only scan the whole trail
 * backwards (37 s with a million events).
 *
 * The list-read branches order by `a.id + 0`, which no index provides. PostgreSQL cannot tell
 * how selective a jsonb containment is, and from time to time (by the luck of its statistics
 * sample) guessed that walking the primary key backwards would meet LIMIT rows soon: 2 s for a
 * person listed a handful of times among a million events. Sorting what the GIN index finds is
 * always cheap, since a person is named by few list reads. */
#define ACCESS_LOG_BRANCH(CONDITION, ORDER)                                                      \
  "(SELECT a.id FROM audit_events a WHERE " CONDITION                                           \
  "   AND ($2::bigint IS NULL OR a.id < $2::bigint) ORDER BY " ORDER " DESC LIMIT $3)"
static const struct db_stmt ACCESS_LOG_LIST = {
    "audit_access_log",
    "SELECT e.id, NULL, json_build_object('id', e.id, 'occurred_at', e.occurred_at,"
    " 'actor', e.actor, 'action', e.action, 'outcome', e.outcome,"
    " 'request_id', e.request_id)::text, e.id::text"
    " FROM audit_events e WHERE e.id IN ("
    ACCESS_LOG_BRANCH("a.service_user_id = $1::uuid", "a.id") " UNION ALL "
    ACCESS_LOG_BRANCH("a.resource_type = 'service_user' AND a.service_user_id IS NULL"
                      " AND a.details -> 'ids' @> jsonb_build_array($1::text)", "a.id + 0")
    " UNION ALL "
    ACCESS_LOG_BRANCH("a.service_user_id IS NULL"
                      " AND a.details -> 'service_user_ids' @> jsonb_build_array($1::text)",
                      "a.id + 0")
    ") ORDER BY e.id DESC LIMIT $3",
    3};

static const struct db_stmt PERSON_EXISTS = {
    "audit_person_exists", "SELECT 1 FROM service_users WHERE id = $1::uuid", 1};

static const struct db_stmt VERIFY_SNAPSHOT = {
    "audit_verify_snapshot", "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0};
static const struct db_stmt VERIFY_UNSEALED = {
    "audit_verify_unsealed",
    "SELECT count(*) FROM audit_events e"
    " WHERE NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = e.id)",
    0};

#define VERIFY_BATCH 5000
static const struct db_stmt VERIFY_LINKS = {
    "audit_verify_links",
    "SELECT c.seq, c.event_id, c.prev_hash, c.hash, e.id IS NOT NULL,"
    " CASE WHEN e.id IS NOT NULL THEN " AUDIT_CONTENT_SQL " END"
    " FROM audit_chain c LEFT JOIN audit_events e ON e.id = c.event_id"
    " WHERE c.seq > $1::bigint ORDER BY c.seq LIMIT 5000",
    1};

/* The cursor: one part, a positive event id (decimal, at most 19 digits). */
static enum cc_status event_cursor(struct exchange *x, char **after) {
  *after = NULL;
  const char *text = exchange_query(x, "cursor");
  if (!text) return CC_OK;
  bool valid = cursor_decode(text, 1, after) == CC_OK;
  if (valid) {
    const char *p = *after;
    size_t len = strlen(p);
    valid = len >= 1 && len <= 19 && strspn(p, "0123456789") == len && p[0] != '0';
    if (valid) {
      errno = 0;
      (void)strtoll(p, NULL, 10);
      valid = errno == 0;
    }
  }
  if (!valid) {
    cursor_parts_free(after, 1);
    reply_problem(x, CC_BAD_REQUEST, "The cursor is not one this service issued.");
    return CC_BAD_REQUEST;
  }
  return CC_OK;
}

static enum cc_status query_timestamp(struct exchange *x, const char *name, const char **out) {
  *out = exchange_query(x, name);
  time_t ignored;
  if (!*out || timestamp_parse(*out, &ignored)) return CC_OK;
  *out = NULL;
  reply_problem(x, CC_BAD_REQUEST,
                "%s must be an RFC 3339 date-time such as 2026-01-31T09:30:00Z.", name);
  return CC_BAD_REQUEST;
}

void audit_events_list(struct exchange *x) {
  int limit;
  const char *person, *actor, *action, *resource_type, *from, *to;
  if (query_limit(x, &limit) != CC_OK || query_uuid(x, "service_user_id", &person) != CC_OK ||
      query_text(x, "actor", 200, &actor) != CC_OK ||
      query_text(x, "action", 20, &action) != CC_OK ||
      query_text(x, "resource_type", 60, &resource_type) != CC_OK ||
      query_timestamp(x, "from", &from) != CC_OK || query_timestamp(x, "to", &to) != CC_OK)
    return;
  if (action) {
    bool known = false;
    for (const char *const *a = ACTIONS; *a; a++) known |= strcmp(*a, action) == 0;
    if (!known) {
      reply_problem(x, CC_BAD_REQUEST, "action is not a known audit action.");
      return;
    }
  }
  /* break_glass=true: only break-glass reads (R-AUD-1); false: everything else. */
  const char *break_glass = exchange_query(x, "break_glass");
  if (break_glass && strcmp(break_glass, "true") != 0 && strcmp(break_glass, "false") != 0) {
    reply_problem(x, CC_BAD_REQUEST, "break_glass must be true or false.");
    return;
  }
  char *after;
  if (event_cursor(x, &after) != CC_OK) return;
  const char *params[] = {person, actor, action, resource_type, from, to, after, break_glass,
                          NULL};
  record_list(x, &AUDIT_EVENT, &LIST, params, limit, 1);
  cursor_parts_free(&after, 1);
}

void service_users_access_log(struct exchange *x) {
  const char *id = x->params[0];
  int limit;
  char *after;
  if (!text_is_uuid(id)) {
    reply_problem(x, CC_NOT_FOUND, "No service_user has this id.");
    return;
  }
  if (query_limit(x, &limit) != CC_OK || event_cursor(x, &after) != CC_OK) return;
  struct tx tx;
  PGresult *res = NULL;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status == CC_OK) status = tx_exec(&tx, &PERSON_EXISTS, (const char *const[]){id}, &res);
  bool exists = status == CC_OK && PQntuples(res) == 1;
  PQclear(res);
  tx_end(&tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
  } else if (!exists) {
    reply_problem(x, CC_NOT_FOUND, "No service_user has this id.");
  } else {
    const char *params[] = {id, after, NULL};
    record_list(x, &ACCESS_LOG, &ACCESS_LOG_LIST, params, limit, 1);
  }
  cursor_parts_free(&after, 1);
}

/* The first problem found while walking the chain. */
struct broken {
  bool found;
  char event_id[24], seq[24];
  const char *reason;
};

static void note_broken(struct broken *b, PGresult *res, int r, const char *reason) {
  if (b->found) return;
  b->found = true;
  snprintf(b->event_id, sizeof b->event_id, "%s", PQgetvalue(res, r, 1));
  snprintf(b->seq, sizeof b->seq, "%s", PQgetvalue(res, r, 0));
  b->reason = reason;
}

void audit_events_verify(struct exchange *x) {
  struct tx tx;
  PGresult *res = NULL;
  struct broken broken = {0};
  long long checked = 0, unsealed = 0, expected_seq = 1;
  char prev[AUDIT_HASH_HEX_LEN + 1] = ""; /* the previous link's hash; "" before the first */
  char after[24] = "0";
  /* One snapshot for the whole walk, so concurrent sealing cannot look like a break. */
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status == CC_OK) status = tx_exec(&tx, &VERIFY_SNAPSHOT, NULL, NULL);
  if (status == CC_OK) status = tx_exec(&tx, &VERIFY_UNSEALED, NULL, &res);
  if (status == CC_OK) unsealed = atoll(PQgetvalue(res, 0, 0));
  PQclear(res);
  res = NULL;
  while (status == CC_OK) {
    status = tx_exec(&tx, &VERIFY_LINKS, (const char *const[]){after}, &res);
    if (status != CC_OK) break;
    int n = PQntuples(res);
    for (int r = 0; r < n; r++) {
      long long seq = atoll(PQgetvalue(res, r, 0));
      const char *stored_prev = PQgetisnull(res, r, 2) ? "" : PQgetvalue(res, r, 2);
      const char *hash = PQgetvalue(res, r, 3);
      bool present = strcmp(PQgetvalue(res, r, 4), "t") == 0;
      if (seq != expected_seq) note_broken(&broken, res, r, "sequence_gap");
      if (strcmp(stored_prev, prev) != 0) note_broken(&broken, res, r, "broken_link");
      if (!present) {
        note_broken(&broken, res, r, "event_missing");
      } else {
        char recomputed[AUDIT_HASH_HEX_LEN + 1];
        if (!audit_chain_hash(*stored_prev ? stored_prev : NULL, PQgetvalue(res, r, 5),
                              recomputed)) {
          status = CC_INTERNAL;
          break;
        }
        if (strcmp(recomputed, hash) != 0) note_broken(&broken, res, r, "content_mismatch");
      }
      checked++;
      expected_seq = seq + 1;
      snprintf(prev, sizeof prev, "%s", hash);
      snprintf(after, sizeof after, "%s", PQgetvalue(res, r, 0));
    }
    PQclear(res);
    res = NULL;
    if (n < VERIFY_BATCH) break;
  }
  tx_end(&tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    return;
  }
  json_t *first = json_null();
  if (broken.found)
    first = json_pack("{s:I, s:I, s:s}", "event_id", (json_int_t)atoll(broken.event_id), "seq",
                      (json_int_t)atoll(broken.seq), "reason", broken.reason);
  reply_json(x, 200,
             json_pack("{s:b, s:I, s:I, s:o}", "valid", !broken.found, "checked",
                       (json_int_t)checked, "unsealed", (json_int_t)unsealed, "first_broken",
                       first));
}
