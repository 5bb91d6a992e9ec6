/* Transfers and discharge of an episode of care (DOMAIN.md care cycle step 8; R-TRF-1..5): to
 * another team of the trust, another area, hospital and back, prison, a partner agency, primary
 * care (the GP), or between CPA and lead-professional care (step_down / step_up).
 *
 * R-TRF-1: a transfer is proposed by those caring for the person, accepted or rejected (with a
 * reason) by the receiving side, then completed, or cancelled before completion
 * (rules/transfer_rules.h says which status may follow which). Until completion nothing about
 * the episode changes: the sending holder stays responsible and keeps access. Completion does
 * what the type does in the same transaction as the status change, with the episode locked: the
 * allocation is replaced by the receiving holder's (resources/allocations.h, allocation_make:
 * the old one ends as the new one begins, R-ALC-1), so there is never a moment without a
 * responsible person, and access (read live from allocations by auth/policy.h) moves exactly
 * then. One transfer at a time per episode (a unique index): two would race for the allocation.
 *
 * R-TRF-2: the handover is taken at proposal (the active care plan, the risk summary, the
 * person's contact details, the carers who consented to sharing, the open due items) and never
 * changes afterwards (a database trigger refuses it).
 *
 * Who decides: for a receiver inside the trust (internal_team, step_down / step_up,
 * hospital_admission) a manager of the receiving team, who may have no relationship with the
 * person yet, so while the transfer is in flight they may read and decide it; for a receiver
 * outside the trust a manager of the team holding the episode records the decision. Any other
 * refusal is 403 with a committed deny event (R-AUD-1). The audit trail names what changed,
 * never the reasons' text or the handover's content. */
#include "resources/transfers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/roles.h"
#include "http/cursor.h"
#include "http/idempotency.h"
#include "resources/allocations.h"
#include "resources/assessments.h"
#include "resources/episodes.h"
#include "resources/person_page.h"
#include "resources/record.h"
#include "resources/resources.h"
#include "rules/clocks.h"
#include "rules/transfer_rules.h"

#define RESOURCE "transfer"
#define NOT_FOUND "No transfer of this episode has this id."

/* As transfer_type_parse knows them (rules/transfer_rules.h). */
static const char *const TYPES[] = {"internal_team", "out_of_area", "hospital_admission",
                                    "hospital_discharge", "prison", "primary_care_discharge",
                                    "step_down", "step_up", "partner_agency", NULL};
static const char *const DECISIONS[] = {"accepted", "rejected", NULL};

#define NAME_TEXT(NAME)                                                                          \
  {.name = NAME, .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 1, .max_len = 200}
#define REASON_TEXT(NAME, FLAGS)                                                                 \
  {.name = NAME, .kind = FIELD_TEXT, .flags = FLAGS, .min_len = 1, .max_len = 2000}

/* Someone outside the trust: the GP practice, the other trust's placement, the prison, the
 * partner agency. name, organisation and contact are what an external allocation holds. */
static const struct field_spec EXTERNAL_FIELDS[] = {
    NAME_TEXT("name"),
    NAME_TEXT("organisation"),
    NAME_TEXT("contact"),
    {.name = "location", .kind = FIELD_TEXT, .flags = FIELD_NULLABLE, .min_len = 1,
     .max_len = 500},
    {0}};

/* What some types record beyond the receiver (check_kind says which). */
static const struct field_spec DETAILS_FIELDS[] = {
    {.name = "named_nurse_staff_id", .kind = FIELD_UUID, .flags = FIELD_NULLABLE},
    {.name = "discharged_on", .kind = FIELD_DATE, .flags = FIELD_NULLABLE},
    {0}};

static const struct field_spec PROPOSAL_FIELDS[] = {
    {.name = "type", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = TYPES},
    REASON_TEXT("reason", FIELD_REQUIRED),
    {.name = "receiving_team_id", .kind = FIELD_UUID, .flags = FIELD_NULLABLE},
    {.name = "receiving_staff_id", .kind = FIELD_UUID, .flags = FIELD_NULLABLE},
    {.name = "receiving_external", .kind = FIELD_OBJECT, .flags = FIELD_NULLABLE,
     .members = EXTERNAL_FIELDS},
    {.name = "details", .kind = FIELD_OBJECT, .flags = FIELD_NULLABLE, .members = DETAILS_FIELDS},
    {0}};

static const struct field_spec DECISION_FIELDS[] = {
    {.name = "decision", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = DECISIONS},
    /* Required with a rejection (check_decision). */
    REASON_TEXT("rejection_reason", FIELD_NULLABLE),
    {0}};

static const struct field_spec CANCEL_FIELDS[] = {REASON_TEXT("reason", FIELD_REQUIRED), {0}};

/* Every statement returns TRANSFER_COLUMNS, a fourth column (the status; a list's cursor id),
 * then TRANSFER_CLOCK_FACTS. */
enum { FACT_COMPLETED_AT = 4, FACT_FIRST_FOLLOW_UP, FACT_LAST_LIAISON };

#define ROW_COLUMNS(FOURTH) TRANSFER_COLUMNS("t") ", " FOURTH ", " TRANSFER_CLOCK_FACTS("t")

/* R-TRF-2: the handover is built here from the record as it is now, with $8 (what C computes:
 * the risk summary and the open due items) merged in. */
static const struct db_stmt INSERT = {
    "transfers_insert",
    "INSERT INTO transfers AS t (episode_id, type, reason, receiving_team_id, receiving_staff_id,"
    " receiving_external, details, handover, proposed_by)"
    " SELECT e.id, $2, $3, $4::uuid, $5::uuid, $6::jsonb, COALESCE($7::jsonb, '{}'::jsonb),"
    " jsonb_build_object('taken_at', now(),"
    "   'care_plan', (SELECT jsonb_build_object('id', p.id, 'plan_version', p.plan_version,"
    "     'content', p.content) FROM care_plans p"
    "     WHERE p.episode_id = e.id AND p.status = 'active'),"
    "   'contacts', jsonb_build_object('address', s.address, 'gp_practice', s.gp_practice),"
    "   'carers', COALESCE((SELECT jsonb_agg(jsonb_build_object('id', c.id, 'name', c.name,"
    "     'relationship', c.relationship, 'contact', c.contact,"
    "     'consent_scope', c.consent -> 'scope') ORDER BY c.created_at, c.id) FROM carers c"
    "     WHERE c.service_user_id = s.id AND c.consent ->> 'given' = 'true'), '[]'::jsonb))"
    "   || $8::jsonb, $9"
    " FROM episodes e JOIN service_users s ON s.id = e.service_user_id WHERE e.id = $1::uuid"
    " RETURNING " ROW_COLUMNS("t.status"),
    9};
static const struct db_stmt SELECT = {
    "transfers_select",
    "SELECT " ROW_COLUMNS("t.status") " FROM transfers t"
    " WHERE t.id = $1::uuid AND t.episode_id = $2::uuid",
    2};
static const struct db_stmt LOCK = {
    "transfers_lock",
    "SELECT " ROW_COLUMNS("t.status") " FROM transfers t"
    " WHERE t.id = $1::uuid AND t.episode_id = $2::uuid FOR UPDATE",
    2};
/* An episode's transfers, the latest proposed first. */
static const struct db_stmt LIST = {
    "transfers_list",
    "SELECT " ROW_COLUMNS("t.id::text") " FROM transfers t"
    " WHERE t.episode_id = $1::uuid"
    "   AND ($2::uuid IS NULL OR (t.proposed_at, t.id) <"
    "        (SELECT p.proposed_at, p.id FROM transfers p WHERE p.id = $2::uuid))"
    " ORDER BY t.proposed_at DESC, t.id DESC LIMIT $3",
    3};
static const struct db_stmt DECIDE = {
    "transfers_decide",
    "UPDATE transfers AS t SET status = $2, decided_at = now(), decided_by = $3,"
    " rejection_reason = $4, updated_at = now(), version = t.version + 1"
    " WHERE t.id = $1::uuid AND t.status = 'proposed' RETURNING " ROW_COLUMNS("t.status"),
    4};
static const struct db_stmt COMPLETE = {
    "transfers_complete",
    "UPDATE transfers AS t SET status = 'completed', completed_at = now(), completed_by = $2,"
    " ended_allocation_id = $3::uuid, resulting_allocation_id = $4::uuid, updated_at = now(),"
    " version = t.version + 1"
    " WHERE t.id = $1::uuid AND t.status = 'accepted' RETURNING " ROW_COLUMNS("t.status"),
    4};
static const struct db_stmt CANCEL = {
    "transfers_cancel",
    "UPDATE transfers AS t SET status = 'cancelled', cancelled_at = now(), cancelled_by = $2,"
    " cancellation_reason = $3, updated_at = now(), version = t.version + 1"
    " WHERE t.id = $1::uuid AND t.status IN ('proposed', 'accepted')"
    " RETURNING " ROW_COLUMNS("t.status"),
    3};
/* While transfer $1 of episode $2 is in flight, whether the caller ($3: token subject) is an
 * active member of its receiving team: then the episode's person and whether it is open. */
static const struct db_stmt RECEIVING_MEMBER = {
    "transfers_receiving_member",
    "SELECT e.service_user_id, e.status = 'open' FROM transfers t"
    " JOIN episodes e ON e.id = t.episode_id"
    " WHERE t.id = $1::uuid AND t.episode_id = $2::uuid AND t.status IN ('proposed', 'accepted')"
    "   AND EXISTS (SELECT 1 FROM staff s WHERE s.subject = $3 AND s.active"
    "     AND s.team_id = t.receiving_team_id)",
    3};
/* What a proposal's receivers are: the episode's team; the type of team $2; the teams of $3 (the
 * receiving staff member) and $4 (the named nurse) when they are active staff. */
static const struct db_stmt RECEIVERS = {
    "transfers_receivers",
    "SELECT e.team_id::text, (SELECT r.type FROM teams r WHERE r.id = $2::uuid),"
    " (SELECT s.team_id::text FROM staff s WHERE s.id = $3::uuid AND s.active),"
    " (SELECT s.team_id::text FROM staff s WHERE s.id = $4::uuid AND s.active)"
    " FROM episodes e WHERE e.id = $1::uuid",
    4};
/* Whether staff member $1 is still an active member of team $2. */
static const struct db_stmt STAFF_IN_TEAM = {
    "transfers_staff_in_team",
    "SELECT EXISTS (SELECT 1 FROM staff s WHERE s.id = $1::uuid AND s.active"
    " AND s.team_id = $2::uuid)",
    2};
static const struct db_stmt CURRENT_ALLOCATION = {
    "transfers_current_allocation",
    "SELECT a.id, " ALLOCATION_JSON("a") "::text FROM allocations a"
    " WHERE a.episode_id = $1::uuid AND a.ended_at IS NULL",
    1};
/* The episode moves to team $2; returns the team it was in. The caller locked the episode. */
static const struct db_stmt MOVE_TEAM = {
    "transfers_move_team",
    "UPDATE episodes e SET team_id = $2::uuid FROM episodes before"
    " WHERE e.id = $1::uuid AND before.id = e.id RETURNING before.team_id::text",
    2};

static const struct constraint_problem CONSTRAINTS[] = {
    {"transfers_one_open_per_episode", CC_CONFLICT, NULL,
     "This episode already has a transfer proposed or accepted: complete, reject or cancel it "
     "before proposing another (R-TRF-1)."},
    {0}};

static const char *text_of(const json_t *object, const char *name) {
  return json_string_value(json_object_get(object, name));
}

static bool member_present(const json_t *object, const char *name) {
  const json_t *value = json_object_get(object, name);
  return value && !json_is_null(value);
}

static bool same_id(const char *a, const char *b) { return a && b && strcasecmp(a, b) == 0; }

static const char *column_or_null(PGresult *res, int row, int col) {
  return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

enum cc_status transfer_add_clock(struct exchange *x, PGresult *res, int row, json_t *transfer) {
  enum transfer_type type;
  if (!transfer_type_parse(text_of(transfer, "type"), &type)) return CC_INTERNAL;
  const struct transfer_kind *kind = transfer_kind_of(type);
  const char *status = text_of(transfer, "status");
  /* A transfer that has not happened sets nothing running. */
  if (kind->clock == TRANSFER_CLOCK_NONE || !status || strcmp(status, "completed") != 0)
    return CC_OK;
  const struct policy *policy = &x->app->config->policy;
  char today[CIVIL_DATE_TEXT_LEN];
  uk_local_date(time(NULL), today);
  struct clock_state clock;
  bool valid;
  const char *rule;
  if (kind->clock == TRANSFER_CLOCK_FOLLOW_UP) {
    rule = "R-TRF-3";
    valid = follow_up_clock(text_of(json_object_get(transfer, "details"), "discharged_on"),
                            column_or_null(res, row, FACT_FIRST_FOLLOW_UP),
                            policy->discharge_follow_up_days, today, &clock);
  } else {
    /* R-TRF-4: the placement starts with the completion. */
    if (PQgetisnull(res, row, FACT_COMPLETED_AT)) return CC_INTERNAL;
    char started[CIVIL_DATE_TEXT_LEN];
    uk_local_date((time_t)atoll(PQgetvalue(res, row, FACT_COMPLETED_AT)), started);
    rule = "R-TRF-4";
    valid = liaison_clock(started, column_or_null(res, row, FACT_LAST_LIAISON),
                          text_of(transfer, "placement_ended_on"),
                          policy->out_of_area_liaison_months, today, &clock);
  }
  json_object_set_new(transfer, "clock",
                      json_pack("{s:s?, s:b, s:s?, s:s}", "due", clock.has_due ? clock.due : NULL,
                                "overdue", clock.overdue, "completed",
                                clock.has_completed ? clock.completed : NULL, "rule", rule));
  return valid ? CC_OK : CC_INTERNAL;
}

/* The end of a handler that read or changed one transfer (res: one row): its clock, the commit,
 * 200 with its ETag; or the failure. */
static void transfer_reply(struct exchange *x, struct tx *tx, enum cc_status status,
                           PGresult *res) {
  json_t *transfer = NULL;
  if (status == CC_OK && PQntuples(res) != 1) status = CC_INTERNAL;
  if (status == CC_OK && !(transfer = json_loads(PQgetvalue(res, 0, 2), 0, NULL)))
    status = CC_INTERNAL;
  if (status == CC_OK) status = transfer_add_clock(x, res, 0, transfer);
  if (status == CC_OK) status = tx_commit(tx);
  if (status != CC_OK) {
    json_decref(transfer);
    reply_problem(x, status, NULL);
    return;
  }
  reply_etag(x, PQgetvalue(res, 0, 1));
  reply_json(x, 200, transfer);
}

/* The access step of a request about transfer `id` of the episode (x->params[0]). While the
 * transfer is in flight a manager of its receiving team may read and decide it without a
 * relationship with the person (*receiving_manager; the read is audited as any other); everyone
 * else goes through the person's access policy (episode_access). Returns true when the handler
 * may go on; otherwise it has replied. */
static bool transfer_access(struct exchange *x, struct tx *tx, const char *id,
                            enum access_action action, bool break_glass, struct episode *ep,
                            enum access_decision *decision, bool *receiving_manager) {
  *receiving_manager = false;
  if ((x->principal.roles & ROLE_MANAGER) && text_is_uuid(x->params[0])) {
    PGresult *res = NULL;
    const char *params[] = {id, x->params[0], x->principal.subject};
    enum cc_status status = tx_exec(tx, &RECEIVING_MEMBER, params, &res);
    if (status == CC_OK && PQntuples(res) == 1) {
      *ep = (struct episode){0};
      snprintf(ep->id, sizeof ep->id, "%s", x->params[0]);
      snprintf(ep->service_user_id, sizeof ep->service_user_id, "%s", PQgetvalue(res, 0, 0));
      ep->open = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
      *decision = ACCESS_ALLOW;
      *receiving_manager = true;
    }
    PQclear(res);
    if (status != CC_OK) {
      reply_problem(x, status, NULL);
      return false;
    }
    if (*receiving_manager) return true;
  }
  return episode_access(x, tx, RESOURCE, id, false, action, break_glass, ep, decision);
}

/* Locks transfer `id` of the episode; 404 when it has none. Returns true with *res (the row)
 * and *current (its representation); otherwise it has replied. */
static bool lock_transfer(struct exchange *x, struct tx *tx, const struct episode *ep,
                          const char *id, PGresult **res, json_t **current) {
  enum cc_status status = tx_exec(tx, &LOCK, (const char *const[]){id, ep->id}, res);
  if (status == CC_OK && PQntuples(*res) == 0) {
    reply_problem(x, CC_NOT_FOUND, NOT_FOUND);
    return false;
  }
  if (status == CC_OK && !(*current = json_loads(PQgetvalue(*res, 0, 2), 0, NULL)))
    status = CC_INTERNAL;
  if (status != CC_OK) reply_problem(x, status, NULL);
  return status == CC_OK;
}

/* R-TRF-1: the locked transfer (res) may move to `to`, and is the version the caller read
 * (If-Match): otherwise 409 or 412. */
static bool check_transition(struct exchange *x, PGresult *res, enum transfer_status to,
                             long expected) {
  const char *now = PQgetvalue(res, 0, 3);
  enum transfer_status from;
  if (!transfer_status_parse(now, &from)) {
    reply_problem(x, CC_INTERNAL, NULL);
    return false;
  }
  if (!transfer_may_become(from, to)) {
    reply_problem(x, CC_CONFLICT,
                  "This transfer is %s and cannot become %s: a transfer goes proposed, then "
                  "accepted or rejected, then completed, or is cancelled before completion "
                  "(R-TRF-1).",
                  now, transfer_status_name(to));
    return false;
  }
  const char *version = PQgetvalue(res, 0, 1);
  if (atol(version) != expected) {
    reply_etag(x, version);
    reply_problem(x, CC_PRECONDITION_FAILED,
                  "The transfer has changed since you read it (now version %s); read it again "
                  "and reapply your change.",
                  version);
    return false;
  }
  return true;
}

/* ---- proposal ---- */

/* Adds the error for member `name` (under `pointer`) that the type needs or does not use. */
static void check_member(const json_t *object, const char *pointer, const char *name,
                         bool needed, const char *type, struct field_errors *errors) {
  bool present = member_present(object, name);
  if (present == needed) return;
  char ptr[64];
  snprintf(ptr, sizeof ptr, "%s/%s", pointer, name);
  if (needed)
    field_errors_add(errors, ptr, NULL, "is required for a %s transfer", type);
  else
    field_errors_add(errors, ptr, NULL, "is not part of a %s transfer", type);
}

/* What the proposal's type needs (rules/transfer_rules.h), without the database. */
static void check_kind(const json_t *body, enum transfer_type type,
                       const struct transfer_kind *kind, const struct episode *ep,
                       struct field_errors *errors) {
  const char *name = transfer_type_name(type);
  /* The episode's own team may be named by a step, and is taken when it is not. */
  if (kind->team != RECEIVING_TEAM_OWN)
    check_member(body, "", "receiving_team_id", kind->team != RECEIVING_TEAM_NONE, name, errors);
  check_member(body, "", "receiving_staff_id", kind->staff, name, errors);
  check_member(body, "", "receiving_external", kind->external, name, errors);
  const json_t *details = json_object_get(body, "details");
  check_member(details, "/details", "named_nurse_staff_id", kind->named_nurse, name, errors);
  check_member(details, "/details", "discharged_on", kind->discharged_on, name, errors);
  struct civil_date discharged, today;
  char today_text[CIVIL_DATE_TEXT_LEN];
  uk_local_date(time(NULL), today_text);
  if (civil_date_parse(text_of(details, "discharged_on"), &discharged) &&
      civil_date_parse(today_text, &today) && civil_date_compare(discharged, today) > 0)
    field_errors_add(errors, "/details/discharged_on", "R-TRF-3",
                     "must not be after today (%s): record a discharge once it has happened",
                     today_text);
  enum care_level after;
  const char *problem = NULL;
  if (!transfer_care_level(type, ep->care_level, &after, &problem))
    field_errors_add(errors, "/type", "R-REV-3", "%s", problem);
}

/* The teams and staff the proposal names, against the database: the receiving team exists and
 * is what the type needs, the receiving staff member and the named nurse are active members of
 * it. *team receives the receiving team to store (the episode's own for a step). */
static enum cc_status check_receivers(struct tx *tx, const struct episode *ep, const json_t *body,
                                      const struct transfer_kind *kind, char team[UUID_TEXT_SIZE],
                                      struct field_errors *errors) {
  const char *team_id = text_of(body, "receiving_team_id");
  const char *staff_id = text_of(body, "receiving_staff_id");
  const char *nurse_id = text_of(json_object_get(body, "details"), "named_nurse_staff_id");
  PGresult *res = NULL;
  enum cc_status status = tx_exec(
      tx, &RECEIVERS, (const char *const[]){ep->id, team_id, staff_id, nurse_id}, &res);
  if (status == CC_OK && PQntuples(res) != 1) status = CC_INTERNAL;
  if (status != CC_OK) {
    PQclear(res);
    return status;
  }
  const char *own_team = PQgetvalue(res, 0, 0);
  const char *team_type = column_or_null(res, 0, 1);
  const char *ptr = "/receiving_team_id";
  if (kind->team == RECEIVING_TEAM_OWN && team_id && !same_id(team_id, own_team))
    field_errors_add(errors, ptr, "R-REV-3",
                     "must be the episode's own team: a step changes the care level, not the team");
  else if (kind->team != RECEIVING_TEAM_OWN && team_id && !team_type)
    field_errors_add(errors, ptr, NULL, "must name a team (no team has this id)");
  else if (kind->team == RECEIVING_TEAM_OTHER && same_id(team_id, own_team))
    field_errors_add(errors, ptr, NULL,
                     "must be a team other than the one holding the episode");
  else if (kind->team == RECEIVING_TEAM_INPATIENT_WARD && team_type &&
           strcmp(team_type, "inpatient_ward") != 0)
    field_errors_add(errors, ptr, NULL, "must name an inpatient ward (it names a %s team)",
                     team_type);
  const char *receiving = kind->team == RECEIVING_TEAM_OWN ? own_team : team_id;
  snprintf(team, UUID_TEXT_SIZE, "%s", receiving ? receiving : "");
  if (staff_id && PQgetisnull(res, 0, 2))
    field_errors_add(errors, "/receiving_staff_id", NULL, "must name an active staff member");
  else if (staff_id && !same_id(PQgetvalue(res, 0, 2), receiving))
    field_errors_add(errors, "/receiving_staff_id", NULL,
                     "must be a member of the receiving team");
  if (nurse_id && PQgetisnull(res, 0, 3))
    field_errors_add(errors, "/details/named_nurse_staff_id", NULL,
                     "must name an active staff member");
  else if (nurse_id && !same_id(PQgetvalue(res, 0, 3), team_id))
    field_errors_add(errors, "/details/named_nurse_staff_id", NULL,
                     "must be a nurse of the receiving ward");
  PQclear(res);
  return CC_OK;
}

/* R-TRF-2: what the handover takes that C computes: the person's risk summary (as
 * GET /service-users/{id}/risk-summary) and the episode's open due items, the clocks of its
 * summary that are due and not met, or overdue. *text is JSON (the caller frees). */
static enum cc_status handover_computed(struct exchange *x, struct tx *tx,
                                        const struct episode *ep, char **text) {
  *text = NULL;
  json_t *risk = NULL, *clocks = NULL;
  enum cc_status status = risk_summary_of(tx, ep->service_user_id, &risk);
  if (status == CC_OK) status = episode_clocks(x, tx, ep, &clocks);
  if (status != CC_OK) {
    json_decref(risk);
    return status;
  }
  json_t *items = json_array();
  const char *name;
  json_t *clock;
  json_object_foreach(clocks, name, clock) {
    const char *due = text_of(clock, "due");
    bool overdue = json_is_true(json_object_get(clock, "overdue"));
    if (!due || (member_present(clock, "completed") && !overdue)) continue;
    json_array_append_new(items, json_pack("{s:s, s:s, s:b, s:O?}", "clock", name, "due", due,
                                           "overdue", overdue, "rule",
                                           json_object_get(clock, "rule")));
  }
  json_t *computed = json_pack("{s:o, s:o}", "risk_summary", risk, "open_due_items", items);
  if (computed) *text = json_dumps(computed, JSON_COMPACT);
  json_decref(computed);
  json_decref(clocks);
  return *text ? CC_OK : CC_INTERNAL;
}

void transfers_create(struct exchange *x) {
  if (!record_body_valid(x, PROPOSAL_FIELDS, VALIDATE_CREATE)) return;
  struct tx tx;
  struct episode ep;
  char *params[9] = {0};
  json_t *details = NULL;
  enum idempotency_state idem = IDEMPOTENCY_NONE;
  enum cc_status status = CC_OK;
  if (!episode_child_begin_create(x, &tx, RESOURCE, &ep,
                                  "The episode is closed: only an open episode is transferred.",
                                  &idem))
    goto done;
  enum transfer_type type;
  if (!transfer_type_parse(text_of(x->body, "type"), &type)) {
    status = CC_INTERNAL; /* the field table allows only known types */
    goto failed;
  }
  const struct transfer_kind *kind = transfer_kind_of(type);
  struct field_errors errors = {0};
  char team[UUID_TEXT_SIZE] = "";
  check_kind(x->body, type, kind, &ep, &errors);
  if (!errors.count) status = check_receivers(&tx, &ep, x->body, kind, team, &errors);
  if (status != CC_OK) goto failed;
  if (errors.count) {
    reply_validation(x, &errors);
    goto done;
  }
  params[0] = strdup(ep.id);
  params[1] = strdup(transfer_type_name(type));
  params[2] = fields_param_new(json_object_get(x->body, "reason"));
  params[3] = team[0] ? strdup(team) : NULL;
  params[4] = fields_param_new(json_object_get(x->body, "receiving_staff_id"));
  params[5] = fields_param_new(json_object_get(x->body, "receiving_external"));
  params[6] = fields_param_new(json_object_get(x->body, "details"));
  status = handover_computed(x, &tx, &ep, &params[7]);
  if (status != CC_OK) goto failed;
  params[8] = strdup(x->principal.subject);
  details = json_pack("{s:s, s:s?, s:s?}", "type", params[1], "receiving_team_id", params[3],
                      "receiving_staff_id", params[4]);
  episode_child_insert(x, &tx, &ep, &INSERT, (const char *const *)params, CONSTRAINTS, RESOURCE,
                       "transfers", details, idem);
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) free(params[i]);
  json_decref(details);
  tx_end(&tx);
}

/* ---- reads ---- */

void transfers_get(struct exchange *x) {
  const char *id = episode_child_id(x, NOT_FOUND), *reason = NULL;
  if (!id || !access_break_glass_reason(x, &reason)) return;
  struct tx tx;
  struct episode ep;
  PGresult *res = NULL;
  enum access_decision decision;
  bool receiving_manager;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) goto failed;
  if (!transfer_access(x, &tx, id, ACCESS_READ, reason != NULL, &ep, &decision,
                       &receiving_manager))
    goto done;
  status = tx_exec(&tx, &SELECT, (const char *const[]){id, ep.id}, &res);
  if (status != CC_OK) goto failed;
  if (PQntuples(res) == 0) {
    reply_problem(x, CC_NOT_FOUND, NOT_FOUND);
    goto done;
  }
  struct access_target target = {RESOURCE, id, ep.service_user_id};
  status = access_audit_read(x, &tx, &target, decision, reason);
  transfer_reply(x, &tx, status, res);
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  PQclear(res);
  tx_end(&tx);
}

void transfers_list(struct exchange *x) {
  int limit;
  const char *reason = NULL;
  char *after[1];
  if (!person_page_query(x, &limit, &reason, after)) return;
  struct tx tx;
  struct episode ep;
  enum access_decision decision;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
  } else if (episode_access(x, &tx, RESOURCE, NULL, false, ACCESS_READ, reason != NULL, &ep,
                            &decision)) {
    struct access_target target = {RESOURCE, NULL, ep.service_user_id};
    const char *params[] = {ep.id, after[0], NULL};
    person_page_reply(x, &tx, &target, decision, reason, &LIST, params, limit,
                      transfer_add_clock);
  }
  tx_end(&tx);
  cursor_parts_free(after, 1);
}

/* ---- decision ---- */

/* A rejection says why; an acceptance has nothing to explain. */
static bool check_decision(struct exchange *x) {
  struct field_errors errors = {0};
  bool rejected = strcmp(text_of(x->body, "decision"), "rejected") == 0;
  bool has_reason = member_present(x->body, "rejection_reason");
  if (rejected && !has_reason)
    field_errors_add(&errors, "/rejection_reason", "R-TRF-1",
                     "is required: a rejected transfer says why");
  else if (!rejected && has_reason)
    field_errors_add(&errors, "/rejection_reason", "R-TRF-1",
                     "is only for a rejection");
  if (!errors.count) return true;
  reply_validation(x, &errors);
  return false;
}

/* Whether the caller may decide this transfer (see the top of the file): otherwise 403 with a
 * committed deny event. */
static bool may_decide(struct exchange *x, struct tx *tx, const struct episode *ep,
                       const char *id, enum transfer_type type, bool receiving_manager) {
  const struct transfer_kind *kind = transfer_kind_of(type);
  struct access_target target = {RESOURCE, id, ep->service_user_id};
  if (!kind->decided_by_receiving_team) return episode_require_holding_team(x, tx, ep, &target);
  if (receiving_manager) return true;
  return access_refuse(x, tx, &target, ACCESS_WRITE, access_break_glass_requested(x),
                       CC_FORBIDDEN,
                       "Only a manager of the receiving team accepts or rejects this transfer "
                       "(R-TRF-1).");
}

void transfers_decide(struct exchange *x) {
  const char *id = episode_child_id(x, NOT_FOUND);
  if (!id) return;
  long expected = 0;
  if (exchange_if_match(x, &expected) != CC_OK) return;
  if (!record_body_valid(x, DECISION_FIELDS, VALIDATE_CREATE) || !check_decision(x)) return;
  struct tx tx;
  struct episode ep;
  PGresult *res = NULL, *decided = NULL;
  json_t *current = NULL, *details = NULL;
  enum access_decision decision;
  bool receiving_manager;
  enum transfer_type type;
  const char *outcome = text_of(x->body, "decision");
  enum transfer_status to = strcmp(outcome, "accepted") == 0 ? TRANSFER_ACCEPTED
                                                             : TRANSFER_REJECTED;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) goto failed;
  if (!transfer_access(x, &tx, id, ACCESS_WRITE, access_break_glass_requested(x), &ep, &decision,
                       &receiving_manager))
    goto done;
  if (!lock_transfer(x, &tx, &ep, id, &res, &current)) goto done;
  if (!transfer_type_parse(text_of(current, "type"), &type)) {
    status = CC_INTERNAL;
    goto failed;
  }
  /* Who may decide comes first: the transfer's state is not a stranger's to learn. */
  if (!may_decide(x, &tx, &ep, id, type, receiving_manager)) goto done;
  if (!check_transition(x, res, to, expected)) goto done;
  if (!ep.open) {
    reply_problem(x, CC_CONFLICT, "The episode is closed: its transfers can no longer change.");
    goto done;
  }
  const char *rejection = text_of(x->body, "rejection_reason");
  const char *params[] = {id, outcome, x->principal.subject, rejection};
  status = tx_exec(&tx, &DECIDE, params, &decided);
  if (status == CC_OK && PQntuples(decided) != 1) status = CC_INTERNAL;
  if (status != CC_OK) goto failed;
  details = json_pack("{s:[{s:s, s:s, s:s}, {s:s}, {s:s}]}", "changes", "field", "status", "old",
                      "proposed", "new", outcome, "field", "decided_at", "field", "decided_by");
  if (details && rejection)
    json_array_append_new(json_object_get(details, "changes"),
                          json_pack("{s:s}", "field", "rejection_reason"));
  status = details ? episode_audit(x, &tx, "update", RESOURCE, id, &ep, details) : CC_INTERNAL;
  transfer_reply(x, &tx, status, decided);
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  json_decref(details);
  json_decref(current);
  PQclear(decided);
  PQclear(res);
  tx_end(&tx);
}

/* ---- completion ---- */

/* What completion changed: the allocation it ended and the one it made ("" when none). */
struct completion {
  char ended_allocation_id[UUID_TEXT_SIZE];
  char resulting_allocation_id[UUID_TEXT_SIZE];
};

/* The receiving staff member must still be an active member of `team`: otherwise 409 (someone
 * left or moved between acceptance and completion). */
static bool receiver_still_there(struct exchange *x, struct tx *tx, const char *staff_id,
                                 const char *team) {
  PGresult *res = NULL;
  enum cc_status status = tx_exec(tx, &STAFF_IN_TEAM, (const char *const[]){staff_id, team}, &res);
  bool there = status == CC_OK && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
  PQclear(res);
  if (status != CC_OK)
    reply_problem(x, status, NULL);
  else if (!there)
    reply_problem(x, CC_CONFLICT,
                  "The receiving staff member %s is no longer an active member of the receiving "
                  "team: cancel this transfer and propose it again.",
                  staff_id);
  return status == CC_OK && there;
}

/* R-TRF-1, R-ALC-1: the episode's allocation passes to the receiving holder (a staff member, or
 * `external` outside the trust) with the role its care level `level` calls for (R-ALC-2),
 * replacing the current allocation (current: its representation, or NULL) with `end_reason`. The
 * service user's preferences go with them (R-ALC-3); the deputy stays only with the same holder.
 * Returns true with done->resulting_allocation_id set; otherwise it has replied. */
static bool pass_allocation(struct exchange *x, struct tx *tx, const struct episode *ep,
                            enum care_level level, const json_t *current, const char *staff_id,
                            const json_t *external, const char *end_reason,
                            struct completion *done) {
  json_t *body = json_pack(
      "{s:s, s:O}", "role", allocation_role_name(allocation_role_for_care_level(level)),
      "preferences", current ? json_object_get(current, "preferences") : json_null());
  if (!body) {
    reply_problem(x, CC_INTERNAL, NULL);
    return false;
  }
  if (staff_id) json_object_set_new(body, "holder_staff_id", json_string(staff_id));
  if (external)
    json_object_set_new(body, "external_holder",
                        json_pack("{s:O, s:O, s:O}", "name", json_object_get(external, "name"),
                                  "organisation", json_object_get(external, "organisation"),
                                  "contact", json_object_get(external, "contact")));
  if (current) {
    json_object_set(body, "replaces_allocation_id", json_object_get(current, "id"));
    json_object_set_new(body, "end_reason", json_string(end_reason));
    if (same_id(staff_id, text_of(current, "holder_staff_id")))
      json_object_set(body, "deputy_staff_id", json_object_get(current, "deputy_staff_id"));
  }
  struct allocation_made made;
  bool ok = allocation_make(x, tx, ep, body, "", false, &made);
  if (ok) {
    snprintf(done->resulting_allocation_id, UUID_TEXT_SIZE, "%s", made.id);
    if (current)
      snprintf(done->ended_allocation_id, UUID_TEXT_SIZE, "%s", text_of(current, "id"));
  }
  allocation_made_free(&made);
  json_decref(body);
  return ok;
}

/* internal_team: the episode moves to the receiving team, then the allocation to the receiving
 * staff member; the team change is audited as an update of the episode. */
static bool move_team(struct exchange *x, struct tx *tx, const struct episode *ep, const char *id,
                      const json_t *transfer, const json_t *current, struct completion *done) {
  const json_t *team = json_object_get(transfer, "receiving_team");
  const char *team_id = text_of(team, "id"), *staff_id = text_of(transfer, "receiving_staff_id");
  if (!team_id || !staff_id) {
    reply_problem(x, CC_INTERNAL, NULL);
    return false;
  }
  if (!receiver_still_there(x, tx, staff_id, team_id)) return false;
  PGresult *res = NULL;
  json_t *details = NULL;
  enum cc_status status = tx_exec(tx, &MOVE_TEAM, (const char *const[]){ep->id, team_id}, &res);
  if (status == CC_OK && PQntuples(res) != 1) status = CC_INTERNAL;
  if (status == CC_OK)
    details = json_pack("{s:[{s:s, s:s, s:s}], s:s}", "changes", "field", "team_id", "old",
                        PQgetvalue(res, 0, 0), "new", team_id, "transfer_id", id);
  if (status == CC_OK)
    status = details ? episode_audit(x, tx, "update", "episode", ep->id, ep, details) : CC_INTERNAL;
  json_decref(details);
  PQclear(res);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    return false;
  }
  char end_reason[300];
  snprintf(end_reason, sizeof end_reason, "Transferred to %s (transfer %s)",
           text_of(team, "name"), id);
  return pass_allocation(x, tx, ep, ep->care_level, current, staff_id, NULL, end_reason, done);
}

/* step_down / step_up (R-REV-3): the care level changes, then the allocation passes to the
 * receiving staff member in the role the new level calls for (R-ALC-2). */
static bool change_care_level(struct exchange *x, struct tx *tx, const struct episode *ep,
                              const char *id, enum transfer_type type, const json_t *transfer,
                              const json_t *current, struct completion *done) {
  enum care_level after;
  const char *problem = NULL;
  /* Checked at proposal; the level may have changed since (a review, an assessment). */
  if (!transfer_care_level(type, ep->care_level, &after, &problem)) {
    reply_problem(x, CC_CONFLICT, "The episode's care level changed since this transfer was "
                                  "proposed: %s (R-REV-3). Cancel it.",
                  problem);
    return false;
  }
  const char *staff_id = text_of(transfer, "receiving_staff_id");
  const char *team_id = text_of(json_object_get(transfer, "receiving_team"), "id");
  if (!staff_id || !team_id) {
    reply_problem(x, CC_INTERNAL, NULL);
    return false;
  }
  if (!receiver_still_there(x, tx, staff_id, team_id)) return false;
  char reason[160];
  snprintf(reason, sizeof reason, "Transfer %s (%s).", id, transfer_type_name(type));
  enum cc_status status = episode_set_care_level(x, tx, ep, after, reason, "transfer_id", id);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    return false;
  }
  /* allocation_make checks the role against the level the episode is now at. */
  struct episode stepped = *ep;
  stepped.care_level = after;
  char end_reason[160];
  snprintf(end_reason, sizeof end_reason, "Care level changed to %s (transfer %s)",
           care_level_name(after), id);
  return pass_allocation(x, tx, &stepped, after, current, staff_id, NULL, end_reason, done);
}

/* R-TRF-5: primary_care_discharge closes the episode and ends its allocation
 * (resources/discharge.c); R-ASM-7 may refuse it (409). */
static bool discharge(struct exchange *x, struct tx *tx, const struct episode *ep,
                      const char *id, const char *current_id, struct completion *done) {
  char reason[160];
  snprintf(reason, sizeof reason, "Discharged to primary care (transfer %s)", id);
  struct field_errors errors = {0};
  enum cc_status status = episode_discharge(x, tx, ep, reason, "transfer_id", id, &errors);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    return false;
  }
  if (errors.count) {
    reply_problem(x, CC_CONFLICT, "%s (%s)", errors.items[0].reason,
                  errors.items[0].rule ? errors.items[0].rule : "R-TRF-5");
    return false;
  }
  if (current_id) snprintf(done->ended_allocation_id, UUID_TEXT_SIZE, "%s", current_id);
  return true;
}

/* Does what completing a transfer of this type does (rules/transfer_rules.h), in tx, with the
 * episode locked. Returns true with *done filled; otherwise it has replied. */
static bool carry_out(struct exchange *x, struct tx *tx, const struct episode *ep, const char *id,
                      enum transfer_type type, const json_t *transfer, struct completion *done) {
  PGresult *res = NULL;
  json_t *current = NULL;
  enum cc_status status = tx_exec(tx, &CURRENT_ALLOCATION, (const char *const[]){ep->id}, &res);
  if (status == CC_OK && PQntuples(res) == 1 &&
      !(current = json_loads(PQgetvalue(res, 0, 1), 0, NULL)))
    status = CC_INTERNAL;
  PQclear(res);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    return false;
  }
  const char *current_id = text_of(current, "id");
  bool ok = true;
  switch (transfer_kind_of(type)->completion) {
  case COMPLETION_MOVES_TEAM:
    ok = move_team(x, tx, ep, id, transfer, current, done);
    break;
  case COMPLETION_CHANGES_CARE_LEVEL:
    ok = change_care_level(x, tx, ep, id, type, transfer, current, done);
    break;
  case COMPLETION_MOVES_TO_EXTERNAL: {
    const json_t *external = json_object_get(transfer, "receiving_external");
    char end_reason[300];
    snprintf(end_reason, sizeof end_reason, "Transferred to %s (transfer %s)",
             text_of(external, "organisation"), id);
    ok = pass_allocation(x, tx, ep, ep->care_level, current, NULL, external, end_reason, done);
    break;
  }
  case COMPLETION_KEEPS_HOLDER: /* the co-ordinator keeps the role */
    break;
  case COMPLETION_DISCHARGES:
    ok = discharge(x, tx, ep, id, current_id, done);
    break;
  }
  json_decref(current);
  return ok;
}

void transfers_complete(struct exchange *x) {
  const char *id = episode_child_id(x, NOT_FOUND);
  if (!id) return;
  long expected = 0;
  if (exchange_if_match(x, &expected) != CC_OK) return;
  struct tx tx;
  struct episode ep;
  PGresult *res = NULL, *completed = NULL;
  json_t *current = NULL, *details = NULL;
  enum access_decision decision;
  enum transfer_type type;
  struct completion done = {0};
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) goto failed;
  /* The episode is locked: its allocation, team or care level change with the status. */
  if (!episode_access(x, &tx, RESOURCE, id, true, ACCESS_WRITE, access_break_glass_requested(x),
                      &ep, &decision))
    goto done;
  if (!lock_transfer(x, &tx, &ep, id, &res, &current)) goto done;
  if (!check_transition(x, res, TRANSFER_COMPLETED, expected)) goto done;
  if (!ep.open) {
    reply_problem(x, CC_CONFLICT, "The episode is closed: its transfers can no longer change.");
    goto done;
  }
  if (!transfer_type_parse(text_of(current, "type"), &type)) {
    status = CC_INTERNAL;
    goto failed;
  }
  if (!carry_out(x, &tx, &ep, id, type, current, &done)) goto done;
  const char *ended = done.ended_allocation_id[0] ? done.ended_allocation_id : NULL;
  const char *resulting = done.resulting_allocation_id[0] ? done.resulting_allocation_id : NULL;
  const char *params[] = {id, x->principal.subject, ended, resulting};
  status = tx_exec(&tx, &COMPLETE, params, &completed);
  if (status == CC_OK && PQntuples(completed) != 1) status = CC_INTERNAL;
  if (status != CC_OK) goto failed;
  details = json_pack("{s:[{s:s, s:s, s:s}, {s:s}, {s:s}], s:s?, s:s?}", "changes", "field",
                      "status", "old", "accepted", "new", "completed", "field", "completed_at",
                      "field", "completed_by", "ended_allocation_id", ended,
                      "resulting_allocation_id", resulting);
  status = details ? episode_audit(x, &tx, "update", RESOURCE, id, &ep, details) : CC_INTERNAL;
  transfer_reply(x, &tx, status, completed);
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  json_decref(details);
  json_decref(current);
  PQclear(completed);
  PQclear(res);
  tx_end(&tx);
}

/* ---- cancellation ---- */

void transfers_cancel(struct exchange *x) {
  const char *id = episode_child_id(x, NOT_FOUND);
  if (!id) return;
  long expected = 0;
  if (exchange_if_match(x, &expected) != CC_OK) return;
  if (!record_body_valid(x, CANCEL_FIELDS, VALIDATE_CREATE)) return;
  struct tx tx;
  struct episode ep;
  PGresult *res = NULL, *cancelled = NULL;
  json_t *current = NULL, *details = NULL;
  enum access_decision decision;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) goto failed;
  if (!episode_access(x, &tx, RESOURCE, id, false, ACCESS_WRITE, access_break_glass_requested(x),
                      &ep, &decision))
    goto done;
  if (!lock_transfer(x, &tx, &ep, id, &res, &current)) goto done;
  if (!check_transition(x, res, TRANSFER_CANCELLED, expected)) goto done;
  const char *params[] = {id, x->principal.subject, text_of(x->body, "reason")};
  status = tx_exec(&tx, &CANCEL, params, &cancelled);
  if (status == CC_OK && PQntuples(cancelled) != 1) status = CC_INTERNAL;
  if (status != CC_OK) goto failed;
  details = json_pack("{s:[{s:s, s:s, s:s}, {s:s}, {s:s}, {s:s}]}", "changes", "field",
                      "status", "old", text_of(current, "status"), "new", "cancelled", "field",
                      "cancelled_at", "field", "cancelled_by", "field", "cancellation_reason");
  status = details ? episode_audit(x, &tx, "update", RESOURCE, id, &ep, details) : CC_INTERNAL;
  transfer_reply(x, &tx, status, cancelled);
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  json_decref(details);
  json_decref(current);
  PQclear(cancelled);
  PQclear(res);
  tx_end(&tx);
}
