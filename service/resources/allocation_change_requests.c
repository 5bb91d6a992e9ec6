/* The service user's requests to change co-ordinator (000 §3.8: "fully discussed and
 * considered, and the request accommodated, as appropriate").
 *
 * A clinician with access to the person's record records the request against the episode's
 * current allocation; an episode has at most one undecided request. A manager of the team holding
 * the episode decides it, with a reason either way: an approval names the new allocation, which
 * is made in the same transaction exactly as POST /episodes/{id}/allocations makes one
 * (replacing the current allocation, R-ALC-1) and must give the episode a different holder; a
 * decline changes nothing else. Every read and write is audited (resource_type
 * allocation_change_request, R-AUD-1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/idempotency.h"
#include "resources/allocations.h"
#include "resources/episodes.h"
#include "resources/record.h"
#include "resources/resources.h"

#define RESOURCE "allocation_change_request"

static const struct field_spec REQUEST_FIELDS[] = {
    {.name = "reason", .kind = FIELD_TEXT, .flags = FIELD_REQUIRED, .min_len = 1,
     .max_len = 2000},
    {0}};

static const char *const DECISIONS[] = {"approved", "declined", NULL};

static const struct field_spec DECISION_FIELDS[] = {
    {.name = "decision", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = DECISIONS},
    {.name = "decision_reason", .kind = FIELD_TEXT, .flags = FIELD_REQUIRED, .min_len = 1,
     .max_len = 2000},
    /* An approval's new allocation, as POST /episodes/{id}/allocations takes it. */
    {.name = "allocation", .kind = FIELD_OBJECT, .flags = FIELD_NULLABLE,
     .members = ALLOCATION_CREATE_FIELDS},
    {0}};

#define REQUEST_COLUMNS                                                                          \
  "r.id, r.version, json_build_object('id', r.id, 'episode_id', r.episode_id,"                  \
  " 'allocation_id', r.allocation_id, 'requested_at', r.requested_at, 'reason', r.reason,"       \
  " 'requested_by', r.requested_by, 'status', r.status, 'decision_reason', r.decision_reason,"   \
  " 'decided_at', r.decided_at, 'decided_by', r.decided_by,"                                     \
  " 'resulting_allocation_id', r.resulting_allocation_id, 'updated_at', r.updated_at,"           \
  " 'version', r.version)::text"

static const struct db_stmt OPEN_REQUEST = {
    "change_requests_open",
    "SELECT id FROM allocation_change_requests WHERE episode_id = $1::uuid"
    " AND status = 'requested'",
    1};
/* Against the episode's current allocation; no row when there is none. */
static const struct db_stmt INSERT = {
    "change_requests_insert",
    "INSERT INTO allocation_change_requests AS r (episode_id, allocation_id, reason,"
    " requested_by) SELECT a.episode_id, a.id, $2, $3 FROM allocations a"
    " WHERE a.episode_id = $1::uuid AND a.ended_at IS NULL RETURNING " REQUEST_COLUMNS,
    3};
static const struct db_stmt SELECT = {
    "change_requests_select",
    "SELECT " REQUEST_COLUMNS " FROM allocation_change_requests r"
    " WHERE r.id = $1::uuid AND r.episode_id = $2::uuid",
    2};
/* The fourth column is the request's status. */
static const struct db_stmt LOCK = {
    "change_requests_lock",
    "SELECT " REQUEST_COLUMNS ", r.status FROM allocation_change_requests r"
    " WHERE r.id = $1::uuid AND r.episode_id = $2::uuid FOR UPDATE",
    2};
static const struct db_stmt DECIDE = {
    "change_requests_decide",
    "UPDATE allocation_change_requests AS r SET status = $2, decision_reason = $3,"
    " decided_at = now(), decided_by = $4, resulting_allocation_id = $5::uuid,"
    " updated_at = now(), version = r.version + 1"
    " WHERE r.id = $1::uuid AND r.status = 'requested' RETURNING " REQUEST_COLUMNS,
    5};
static const struct db_stmt LIST = {
    "change_requests_list",
    "SELECT " REQUEST_COLUMNS ", r.id::text FROM allocation_change_requests r"
    " WHERE r.episode_id = $1::uuid"
    "   AND ($2::uuid IS NULL OR (r.requested_at, r.id) <"
    "        (SELECT p.requested_at, p.id FROM allocation_change_requests p WHERE p.id = $2::uuid))"
    " ORDER BY r.requested_at DESC, r.id DESC LIMIT $3",
    3};

static bool validate(struct exchange *x, const struct field_spec *fields,
                     void (*check)(const json_t *body, struct field_errors *errors)) {
  struct field_errors errors = {0};
  fields_validate(x->body, fields, VALIDATE_CREATE, "", &errors);
  if (!errors.count && check) check(x->body, &errors);
  if (!errors.count) return true;
  reply_validation(x, &errors);
  return false;
}

/* Replies 409 naming the episode's undecided request, if it has one. */
static bool check_no_open_request(struct exchange *x, struct tx *tx, const struct episode *ep) {
  PGresult *res = NULL;
  enum cc_status status = tx_exec(tx, &OPEN_REQUEST, (const char *const[]){ep->id}, &res);
  bool open = status == CC_OK && PQntuples(res) > 0;
  if (status != CC_OK)
    reply_problem(x, status, NULL);
  else if (open)
    reply_problem(x, CC_CONFLICT,
                  "This episode already has an undecided change request, %s: decide it first.",
                  PQgetvalue(res, 0, 0));
  PQclear(res);
  return status == CC_OK && !open;
}

void change_requests_create(struct exchange *x) {
  if (!validate(x, REQUEST_FIELDS, NULL)) return;
  struct tx tx;
  struct episode ep;
  PGresult *res = NULL;
  enum access_decision decision;
  enum idempotency_state idem = IDEMPOTENCY_NONE;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) goto failed;
  if (!episode_access(x, &tx, RESOURCE, NULL, true, ACCESS_WRITE,
                      access_break_glass_requested(x), &ep, &decision))
    goto done;
  if (idempotency_begin(x, &tx, &idem) != CC_OK || idem == IDEMPOTENCY_REPLAYED) goto done;
  if (!ep.open) {
    reply_problem(x, CC_CONFLICT, "The episode is closed: it has no co-ordinator to change.");
    goto done;
  }
  if (!check_no_open_request(x, &tx, &ep)) goto done;
  const char *params[] = {ep.id, json_string_value(json_object_get(x->body, "reason")),
                          x->principal.subject};
  status = tx_exec(&tx, &INSERT, params, &res);
  if (status == CC_CONFLICT) {
    reply_problem(x, CC_CONFLICT,
                  "Another change request for this episode was recorded at the same time.");
    goto done;
  }
  if (status != CC_OK) goto failed;
  if (PQntuples(res) == 0) {
    reply_problem(x, CC_CONFLICT,
                  "The episode has no current allocation: there is no co-ordinator to change.");
    goto done;
  }
  const char *id = PQgetvalue(res, 0, 0);
  char location[200], etag[40];
  snprintf(location, sizeof location, "/episodes/%s/allocation-change-requests/%s", ep.id, id);
  snprintf(etag, sizeof etag, "\"%s\"", PQgetvalue(res, 0, 1));
  status = episode_audit(x, &tx, "create", RESOURCE, id, &ep, NULL);
  if (status == CC_OK && idem == IDEMPOTENCY_CLAIMED)
    status = idempotency_store(x, &tx, 201, PQgetvalue(res, 0, 2), location, etag);
  if (status == CC_OK) status = tx_commit(&tx);
  if (status != CC_OK) goto failed;
  reply_header(x, "Location", location);
  reply_header(x, "ETag", etag);
  reply_json_text(x, 201, PQgetvalue(res, 0, 2));
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  PQclear(res);
  tx_end(&tx);
}

/* The {request_id} path parameter, or NULL after replying 404. */
static const char *request_id_or_404(struct exchange *x) {
  const char *id = x->param_count > 1 ? x->params[1] : NULL;
  if (id && text_is_uuid(id)) return id;
  reply_problem(x, CC_NOT_FOUND, "No change request of this episode has this id.");
  return NULL;
}

void change_requests_get(struct exchange *x) {
  episode_child_get(x, RESOURCE, &SELECT, "No change request of this episode has this id.");
}

void change_requests_list(struct exchange *x) {
  episode_child_list(x, RESOURCE, &LIST);
}

/* An approval brings its new allocation; a decline brings none. */
static void check_decision(const json_t *body, struct field_errors *errors) {
  const char *decision = json_string_value(json_object_get(body, "decision"));
  const json_t *allocation = json_object_get(body, "allocation");
  bool approved = decision && strcmp(decision, "approved") == 0;
  if (approved && !json_is_object(allocation))
    field_errors_add(errors, "/allocation", NULL,
                     "is required to approve: it is the new allocation that meets the request");
  else if (!approved && json_is_object(allocation))
    field_errors_add(errors, "/allocation", NULL, "must be left out when declining");
  if (approved && json_is_object(allocation))
    allocation_check_body(allocation, "/allocation", true, errors);
}

void change_requests_decide(struct exchange *x) {
  const char *id = request_id_or_404(x);
  if (!id || !validate(x, DECISION_FIELDS, check_decision)) return;
  const char *decision_name = json_string_value(json_object_get(x->body, "decision"));
  bool approved = strcmp(decision_name, "approved") == 0;
  struct tx tx;
  struct episode ep;
  struct allocation_made made = {0};
  PGresult *res = NULL, *decided = NULL;
  json_t *details = NULL;
  enum access_decision decision;
  enum idempotency_state idem = IDEMPOTENCY_NONE;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) goto failed;
  if (!episode_access(x, &tx, RESOURCE, id, true, ACCESS_WRITE, access_break_glass_requested(x),
                      &ep, &decision))
    goto done;
  struct access_target deny = {RESOURCE, id, ep.service_user_id};
  if (!episode_require_holding_team(x, &tx, &ep, &deny)) goto done;
  if (idempotency_begin(x, &tx, &idem) != CC_OK || idem == IDEMPOTENCY_REPLAYED) goto done;
  status = tx_exec(&tx, &LOCK, (const char *const[]){id, ep.id}, &res);
  if (status != CC_OK) goto failed;
  if (PQntuples(res) == 0) {
    reply_problem(x, CC_NOT_FOUND, "No change request of this episode has this id.");
    goto done;
  }
  if (strcmp(PQgetvalue(res, 0, 3), "requested") != 0) {
    reply_problem(x, CC_CONFLICT, "This change request has already been decided (%s).",
                  PQgetvalue(res, 0, 3));
    goto done;
  }
  if (approved && !allocation_make(x, &tx, &ep, json_object_get(x->body, "allocation"),
                                   "/allocation", true, &made))
    goto done;
  const char *params[] = {id, decision_name,
                          json_string_value(json_object_get(x->body, "decision_reason")),
                          x->principal.subject, approved ? made.id : NULL};
  status = tx_exec(&tx, &DECIDE, params, &decided);
  if (status == CC_OK && PQntuples(decided) != 1) status = CC_INTERNAL;
  if (status != CC_OK) goto failed;
  details = json_pack("{s:[{s:s, s:s, s:s}, {s:s}], s:s?}", "changes", "field", "status", "old",
                      "requested", "new", decision_name, "field", "decision_reason",
                      "resulting_allocation_id", approved ? made.id : NULL);
  status = episode_audit(x, &tx, "update", RESOURCE, id, &ep, details);
  if (status == CC_OK && idem == IDEMPOTENCY_CLAIMED) {
    char etag[40];
    snprintf(etag, sizeof etag, "\"%s\"", PQgetvalue(decided, 0, 1));
    status = idempotency_store(x, &tx, 200, PQgetvalue(decided, 0, 2), NULL, etag);
  }
  record_commit_reply(x, &tx, status, decided);
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  allocation_made_free(&made);
  json_decref(details);
  PQclear(decided);
  PQclear(res);
  tx_end(&tx);
}
