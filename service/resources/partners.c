/* Partner organisations: the registry clinical staff pick a recipient from (GET /partners), a
 * partner system's view of its own registration (GET /partners/me), and the check every partner
 * route of the exchange starts with (partner_caller_org). Operators register organisations
 * (`carecoord partner-add`); deactivating one refuses its systems at once, whatever their
 * tokens say. */
#include "resources/partners.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "resources/resources.h"

#define ORGANISATION_JSON(O)                                                                     \
  "json_build_object('code', " O ".code, 'name', " O ".name, 'kind', " O ".kind, 'active', "     \
  O ".active)::text"

static const struct db_stmt CALLER_ORG = {
    "partners_caller_org",
    "SELECT o.name, o.kind, o.last_event_seq FROM partner_organisations o"
    " WHERE o.code = $1 AND o.active",
    1};
enum { ORG_NAME, ORG_KIND, ORG_LAST_EVENT };

static const struct db_stmt LIST = {
    "partners_list",
    "SELECT COALESCE(json_agg(" ORGANISATION_JSON("o") "::json ORDER BY o.name, o.code),"
    " '[]')::text FROM partner_organisations o WHERE o.active",
    0};

/* The organisation's events after $2, in order, at most $3: the JSON of the page. */
static const struct db_stmt EVENTS = {
    "partners_events",
    "SELECT COALESCE(json_agg(" PARTNER_EVENT_JSON("e") " ORDER BY e.seq), '[]')::text,"
    " max(e.seq) FROM (SELECT * FROM partner_events e WHERE e.org = $1 AND e.seq > $2::bigint"
    " ORDER BY e.seq LIMIT $3) e",
    3};

bool partner_caller_org(struct exchange *x, struct tx *tx, struct partner_org *org) {
  PGresult *res = NULL;
  const char *params[] = {x->principal.org};
  enum cc_status status =
      x->principal.org[0] ? tx_exec(tx, &CALLER_ORG, params, &res) : CC_FORBIDDEN;
  bool found = status == CC_OK && PQntuples(res) == 1;
  if (found) {
    *org = (struct partner_org){0};
    snprintf(org->code, sizeof org->code, "%s", x->principal.org);
    snprintf(org->name, sizeof org->name, "%s", PQgetvalue(res, 0, ORG_NAME));
    snprintf(org->kind, sizeof org->kind, "%s", PQgetvalue(res, 0, ORG_KIND));
    org->last_event_seq = atoll(PQgetvalue(res, 0, ORG_LAST_EVENT));
  }
  PQclear(res);
  if (found) return true;
  if (status != CC_OK && status != CC_FORBIDDEN) {
    reply_problem(x, status, NULL);
    return false;
  }
  /* A token without an organisation, or one the service does not know (or no longer works
   * with): the refusal is audited like any other. */
  json_t *details = json_pack("{s:s}", "org", x->principal.org);
  struct audit_event event = {.action = "deny", .resource_type = "partner_organisation",
                              .resource_id = x->principal.org[0] ? x->principal.org : NULL,
                              .outcome = "denied", .details = details};
  status = audit_append(tx, &x->actor, &event);
  json_decref(details);
  if (status == CC_OK) status = tx_commit(tx);
  if (status != CC_OK)
    reply_problem(x, status, NULL);
  else
    reply_problem(x, CC_FORBIDDEN,
                  "This partner organisation is not registered with the service, or no longer "
                  "active: ask the trust's operators.");
  return false;
}

void partners_list(struct exchange *x) {
  struct tx tx;
  PGresult *res = NULL;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status == CC_OK) status = tx_exec(&tx, &LIST, NULL, &res);
  if (status == CC_OK) status = tx_commit(&tx);
  if (status == CC_OK)
    reply_json_text(x, 200, PQgetvalue(res, 0, 0));
  else
    reply_problem(x, status, NULL);
  PQclear(res);
  tx_end(&tx);
}

void partners_me(struct exchange *x) {
  struct tx tx;
  struct partner_org org;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
  } else if (partner_caller_org(x, &tx, &org)) {
    if ((status = tx_commit(&tx)) == CC_OK)
      reply_json(x, 200,
                 json_pack("{s:s, s:s, s:s, s:b, s:I}", "code", org.code, "name", org.name,
                           "kind", org.kind, "active", 1, "last_event_seq",
                           (json_int_t)org.last_event_seq));
    else
      reply_problem(x, status, NULL);
  }
  tx_end(&tx);
}

/* `after`: a whole number from 0; 0 when absent. */
static bool query_after(struct exchange *x, long long *after) {
  const char *text = exchange_query(x, "after");
  *after = 0;
  if (!text) return true;
  char *end = NULL;
  errno = 0;
  *after = strtoll(text, &end, 10);
  if (!errno && end != text && !*end && *after >= 0 && text[0] != '+' && text[0] != ' ')
    return true;
  reply_problem(x, CC_BAD_REQUEST,
                "after must be the seq of the last event you have (a whole number from 0).");
  return false;
}

/* The feed: events are numbered in commit order without gaps (migration 0015), so "after n"
 * resumes exactly where a reader stopped, however long ago, across restarts of either side. */
void partners_events(struct exchange *x) {
  long long after;
  int limit;
  if (!query_after(x, &after) || query_limit(x, &limit) != CC_OK) return;
  struct tx tx;
  struct partner_org org;
  PGresult *res = NULL;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    goto done;
  }
  if (!partner_caller_org(x, &tx, &org)) goto done;
  char after_text[24], limit_text[16];
  snprintf(after_text, sizeof after_text, "%lld", after);
  snprintf(limit_text, sizeof limit_text, "%d", limit);
  status = tx_exec(&tx, &EVENTS, (const char *const[]){org.code, after_text, limit_text}, &res);
  if (status == CC_OK) status = tx_commit(&tx);
  json_t *events = status == CC_OK ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
  if (status == CC_OK && !events) status = CC_INTERNAL;
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    goto done;
  }
  long long next = PQgetisnull(res, 0, 1) ? after : atoll(PQgetvalue(res, 0, 1));
  reply_json(x, 200,
             json_pack("{s:o, s:I, s:I}", "events", events, "next_after", (json_int_t)next,
                       "last_event_seq", (json_int_t)org.last_event_seq));
done:
  PQclear(res);
  tx_end(&tx);
}
