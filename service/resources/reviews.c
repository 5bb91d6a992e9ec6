/* CPA reviews (DOMAIN.md care cycle step 6; R-REV-1..3): a review of an episode is planned with a
 * due date and the people invited, then recorded as held with who attended, who chaired, a
 * summary and an outcome, after which it never changes (409; a database trigger backs this up).
 *
 * R-REV-1: a scheduled review is due by default at the policy interval (CPA 6 months, not on CPA
 * 12, per deployment) after the last review held, or before any after the first co-ordinating
 * allocation started the episode's clocks; an urgent review can be asked for at any time, with
 * its reason. R-REV-2: holding a review records what it must and the date the next is due.
 * R-REV-3: a step_down or step_up outcome changes the episode's care level in the same
 * transaction (a line in the care level history and an `update` event of the episode); the
 * episode summary then shows the allocation that no longer matches until a new one is made.
 *
 * Access is the person's (auth/policy.h), as for assessments: reading a review is reading the
 * person's record (audited, break-glass allowed); writing needs the relationship, and
 * break-glass never writes. The audit trail names what a change touched, never the clinical
 * text or the names of the people at the review. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/idempotency.h"
#include "resources/allocations.h"
#include "resources/carers.h"
#include "resources/episodes.h"
#include "resources/record.h"
#include "resources/resources.h"
#include "rules/clocks.h"
#include "rules/review_rules.h"

#define RESOURCE "review"
#define NOT_FOUND "No review of this episode has this id."

static const char *const TYPES[] = {"scheduled", "urgent", "discharge", NULL};
static const char *const INVITEE_KINDS[] = {"person", "carer", "staff", "agency", NULL};
/* The person may chair their own review. */
static const char *const CHAIR_KINDS[] = {"person", "staff", "carer", "other", NULL};
/* As review_outcome_parse knows them (rules/review_rules.h). */
static const char *const OUTCOMES[] = {"continue", "step_down", "step_up", "transfer",
                                       "discharge", NULL};

#define NAME_TEXT(NAME, FLAGS)                                                                   \
  {.name = NAME, .kind = FIELD_STRING, .flags = FLAGS, .min_len = 1, .max_len = 200}
#define READ_ONLY(NAME, KIND) {.name = NAME, .kind = KIND, .flags = FIELD_READ_ONLY}

/* Whom a review invites, and (answered by the time it is held) whether each was consulted and
 * told the outcome. */
static const struct field_spec INVITEE_FIELDS[] = {
    {.name = "kind", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = INVITEE_KINDS},
    NAME_TEXT("name", FIELD_REQUIRED),
    /* Required for a staff invitee (check_invitees), who must be an active staff member. */
    {.name = "staff_id", .kind = FIELD_UUID, .flags = FIELD_NULLABLE},
    /* Required for a carer invitee: one of the person's carers whose consent covers reviews
     * (R-CAR-1, resources/carers.h). */
    {.name = "carer_id", .kind = FIELD_UUID, .flags = FIELD_NULLABLE},
    {.name = "consulted", .kind = FIELD_BOOL, .flags = FIELD_REQUIRED},
    {.name = "informed_of_outcome", .kind = FIELD_BOOL, .flags = FIELD_REQUIRED},
    {0}};

#define INVITEES(FLAGS)                                                                          \
  {.name = "invitees", .kind = FIELD_OBJECT_ARRAY, .flags = FLAGS, .min_len = 0, .max_len = 50,  \
   .members = INVITEE_FIELDS}

static const struct field_spec ATTENDEE_FIELDS[] = {
    NAME_TEXT("name", FIELD_REQUIRED), NAME_TEXT("role", FIELD_NULLABLE), {0}};

static const struct field_spec CHAIR_FIELDS[] = {
    {.name = "kind", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = CHAIR_KINDS},
    NAME_TEXT("name", FIELD_REQUIRED),
    {0}};

/* The stored review as create and merge-patch bodies see it: what is written while it is
 * planned. What holding it records is read-only here (OUTCOME_FIELDS writes it, once). */
static const struct field_spec REVIEW_FIELDS[] = {
    READ_ONLY("id", FIELD_UUID),
    READ_ONLY("episode_id", FIELD_UUID),
    READ_ONLY("service_user_id", FIELD_UUID),
    {.name = "type", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED | FIELD_IMMUTABLE,
     .choices = TYPES},
    READ_ONLY("status", FIELD_STRING),
    /* Optional on create: a default follows from the type (default_due_on). */
    {.name = "due_on", .kind = FIELD_DATE, .flags = 0},
    /* R-REV-1: required for an urgent review (check_review). */
    {.name = "request_reason", .kind = FIELD_TEXT, .flags = FIELD_NULLABLE, .min_len = 1,
     .max_len = 2000},
    INVITEES(0),
    READ_ONLY("held_on", FIELD_DATE),
    READ_ONLY("attendees", FIELD_OBJECT_ARRAY),
    READ_ONLY("chaired_by", FIELD_OBJECT),
    READ_ONLY("summary", FIELD_TEXT),
    READ_ONLY("outcome", FIELD_ENUM),
    READ_ONLY("care_level_before", FIELD_STRING),
    READ_ONLY("care_level_after", FIELD_STRING),
    READ_ONLY("next_review_due", FIELD_DATE),
    READ_ONLY("created_at", FIELD_STRING),
    READ_ONLY("created_by", FIELD_STRING),
    READ_ONLY("updated_at", FIELD_STRING),
    READ_ONLY("held_recorded_by", FIELD_STRING),
    READ_ONLY("version", FIELD_INTEGER),
    {0}};

/* R-REV-2: the body of POST …/outcome, everything a held review records. */
static const struct field_spec OUTCOME_FIELDS[] = {
    /* Not after today (check_outcome). */
    {.name = "held_on", .kind = FIELD_DATE, .flags = FIELD_REQUIRED},
    {.name = "attendees", .kind = FIELD_OBJECT_ARRAY, .flags = FIELD_REQUIRED, .min_len = 1,
     .max_len = 50, .members = ATTENDEE_FIELDS},
    {.name = "chaired_by", .kind = FIELD_OBJECT, .flags = FIELD_REQUIRED, .members = CHAIR_FIELDS},
    {.name = "summary", .kind = FIELD_TEXT, .flags = FIELD_REQUIRED, .min_len = 1,
     .max_len = 10000},
    {.name = "outcome", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = OUTCOMES},
    /* Absent: the planned invitees stay; present: replaces them, with the answers. */
    INVITEES(0),
    {0}};

/* What holding a review changes, for the audit trail: dates, the outcome and the care levels
 * with their values; the attendees, the chair, the summary and the invitees by name only
 * (fields_changes_new names FIELD_TEXT, objects and arrays without their content). */
static const struct field_spec HOLDING_CHANGES[] = {
    {.name = "status", .kind = FIELD_STRING},
    {.name = "held_on", .kind = FIELD_DATE},
    {.name = "attendees", .kind = FIELD_OBJECT_ARRAY},
    {.name = "chaired_by", .kind = FIELD_OBJECT},
    {.name = "summary", .kind = FIELD_TEXT},
    {.name = "outcome", .kind = FIELD_ENUM},
    {.name = "invitees", .kind = FIELD_OBJECT_ARRAY},
    {.name = "care_level_before", .kind = FIELD_STRING},
    {.name = "care_level_after", .kind = FIELD_STRING},
    {.name = "next_review_due", .kind = FIELD_DATE},
    {.name = "held_recorded_by", .kind = FIELD_STRING},
    {0}};

#define REVIEW_COLUMNS                                                                           \
  "r.id, r.version, json_build_object('id', r.id, 'episode_id', r.episode_id,"                  \
  " 'service_user_id', (SELECT e.service_user_id FROM episodes e WHERE e.id = r.episode_id),"    \
  " 'type', r.type, 'status', r.status, 'due_on', r.due_on,"                                     \
  " 'request_reason', r.request_reason, 'invitees', r.invitees, 'held_on', r.held_on,"           \
  " 'attendees', r.attendees, 'chaired_by', r.chaired_by, 'summary', r.summary,"                 \
  " 'outcome', r.outcome, 'care_level_before', r.care_level_before,"                             \
  " 'care_level_after', r.care_level_after, 'next_review_due', r.next_review_due,"               \
  " 'created_at', r.created_at, 'created_by', r.created_by, 'updated_at', r.updated_at,"         \
  " 'held_recorded_by', r.held_recorded_by, 'version', r.version)::text"

static const struct db_stmt INSERT = {
    "reviews_insert",
    "INSERT INTO reviews AS r (episode_id, type, due_on, request_reason, invitees, created_by)"
    " VALUES ($1::uuid, $2, $3::date, $4, COALESCE($5::jsonb, '[]'::jsonb), $6)"
    " RETURNING " REVIEW_COLUMNS,
    6};
static const struct db_stmt SELECT = {
    "reviews_select",
    "SELECT " REVIEW_COLUMNS " FROM reviews r WHERE r.id = $1::uuid AND r.episode_id = $2::uuid",
    2};
/* The fourth column is the status. */
static const struct db_stmt LOCK = {
    "reviews_lock",
    "SELECT " REVIEW_COLUMNS ", r.status FROM reviews r"
    " WHERE r.id = $1::uuid AND r.episode_id = $2::uuid FOR UPDATE",
    2};
static const struct db_stmt UPDATE = {
    "reviews_update",
    "UPDATE reviews AS r SET due_on = $2::date, request_reason = $3, invitees = $4::jsonb,"
    " updated_at = now(), version = r.version + 1"
    " WHERE r.id = $1::uuid AND r.status = 'planned' RETURNING " REVIEW_COLUMNS,
    4};
/* R-REV-2: the review becomes held; $7 NULL keeps the planned invitees. */
static const struct db_stmt HOLD = {
    "reviews_hold",
    "UPDATE reviews AS r SET status = 'held', held_on = $2::date, attendees = $3::jsonb,"
    " chaired_by = $4::jsonb, summary = $5, outcome = $6,"
    " invitees = COALESCE($7::jsonb, r.invitees), care_level_before = $8, care_level_after = $9,"
    " next_review_due = $10::date, held_recorded_by = $11, updated_at = now(),"
    " version = r.version + 1"
    " WHERE r.id = $1::uuid AND r.status = 'planned' RETURNING " REVIEW_COLUMNS,
    11};
/* An episode's reviews, the latest due first. */
static const struct db_stmt LIST = {
    "reviews_list",
    "SELECT " REVIEW_COLUMNS ", r.id::text FROM reviews r"
    " WHERE r.episode_id = $1::uuid"
    "   AND ($2::uuid IS NULL OR (r.due_on, r.id) <"
    "        (SELECT p.due_on, p.id FROM reviews p WHERE p.id = $2::uuid))"
    " ORDER BY r.due_on DESC, r.id DESC LIMIT $3",
    3};
/* R-REV-1: what the review clock of episode $1 counts from: the date of the last review held
 * (NULL before any) and when its first co-ordinating allocation started (whole seconds since the
 * epoch; NULL before there is one), as the episode summary counts them. */
static const struct db_stmt CLOCK_FACTS = {
    "reviews_clock_facts",
    "SELECT to_char(max(r.held_on), 'YYYY-MM-DD'),"
    " (SELECT floor(extract(epoch FROM a.started_at))::bigint FROM allocations a"
    "   WHERE a.episode_id = $1::uuid AND a.role IN " COORDINATING_ROLES_SQL
    "   ORDER BY a.started_at, a.id LIMIT 1)"
    " FROM reviews r WHERE r.episode_id = $1::uuid AND r.status = 'held'",
    1};
/* The positions (from 0) of the invitees in the JSON array $1 whose staff_id names no active
 * staff member. */
static const struct db_stmt INVITEE_STAFF = {
    "reviews_invitee_staff",
    "SELECT (i.ord - 1)::int FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS i(v, ord)"
    " WHERE i.v ->> 'staff_id' IS NOT NULL AND NOT EXISTS (SELECT 1 FROM staff s"
    "   WHERE s.id = (i.v ->> 'staff_id')::uuid AND s.active)"
    " ORDER BY i.ord",
    1};

static const struct constraint_problem CONSTRAINTS[] = {
    {"reviews_urgent_reason", CC_VALIDATION, "/request_reason",
     "is required for an urgent review (R-REV-1)"},
    {0}};

static bool member_present(const json_t *record, const char *name) {
  const json_t *value = json_object_get(record, name);
  return value && !json_is_null(value);
}

/* A staff invitee names the staff member and a carer invitee the carer (R-CAR-1); no one else
 * has a staff_id or a carer_id. */
static void check_invitees(const json_t *invitees, struct field_errors *errors) {
  for (size_t i = 0; i < json_array_size(invitees); i++) {
    const json_t *invitee = json_array_get(invitees, i);
    const char *kind = json_string_value(json_object_get(invitee, "kind"));
    char ptr[64];
    for (int carer = 0; carer < 2; carer++) {
      const char *member = carer ? "carer_id" : "staff_id", *who = carer ? "carer" : "staff";
      bool is_kind = kind && strcmp(kind, who) == 0;
      snprintf(ptr, sizeof ptr, "/invitees/%zu/%s", i, member);
      if (is_kind && !member_present(invitee, member))
        field_errors_add(errors, ptr, carer ? "R-CAR-1" : NULL, "is required for a %s invitee",
                         who);
      else if (!is_kind && member_present(invitee, member))
        field_errors_add(errors, ptr, NULL, "is only for a %s invitee", who);
    }
  }
}

/* The rules across members of a planned review (a create body, or the record after a merge
 * patch). */
static void check_review(const json_t *record, struct field_errors *errors) {
  const char *type = json_string_value(json_object_get(record, "type"));
  if (type && strcmp(type, "urgent") == 0 && !member_present(record, "request_reason"))
    field_errors_add(errors, "/request_reason", "R-REV-1",
                     "is required: an urgent review is requested with its reason");
  check_invitees(json_object_get(record, "invitees"), errors);
}

/* Each staff invitee of invitees (an array that passed check_invitees) is an active staff
 * member, and each carer invitee one of the person's carers whose consent covers reviews
 * (R-CAR-1); a 422 for errors to report otherwise. */
static enum cc_status check_invitee_links(struct tx *tx, const char *person,
                                          const json_t *invitees, struct field_errors *errors) {
  if (json_array_size(invitees) == 0) return CC_OK;
  for (size_t i = 0; i < json_array_size(invitees); i++) {
    const char *carer = json_string_value(json_object_get(json_array_get(invitees, i), "carer_id"));
    if (!carer) continue;
    char ptr[64], *name = NULL;
    snprintf(ptr, sizeof ptr, "/invitees/%zu/carer_id", i);
    enum cc_status status = carer_consent_check(tx, person, carer, "reviews", ptr, errors, &name);
    free(name);
    if (status != CC_OK) return status;
  }
  char *text = fields_param_new(invitees);
  if (!text) return CC_INTERNAL;
  PGresult *res = NULL;
  enum cc_status status = tx_exec(tx, &INVITEE_STAFF, (const char *const[]){text}, &res);
  for (int r = 0; status == CC_OK && r < PQntuples(res); r++) {
    char ptr[64];
    snprintf(ptr, sizeof ptr, "/invitees/%s/staff_id", PQgetvalue(res, r, 0));
    field_errors_add(errors, ptr, NULL, "must name an active staff member");
  }
  PQclear(res);
  free(text);
  return status;
}

/* R-REV-1: the date the next review of an episode at `level` is due, counted from last_held, or
 * before any review was held from clock_start (both London dates or NULL); *due stays "" when
 * there is neither. */
static enum cc_status next_review_due(const struct exchange *x, enum care_level level,
                                      const char *last_held, const char *clock_start,
                                      char due[CIVIL_DATE_TEXT_LEN]) {
  const struct policy *policy = &x->app->config->policy;
  char today[CIVIL_DATE_TEXT_LEN];
  uk_local_date(time(NULL), today);
  struct clock_state clock;
  if (!review_clock(level, last_held, clock_start, policy->review_cpa_months,
                    policy->review_non_cpa_months, today, &clock))
    return CC_INTERNAL;
  snprintf(due, CIVIL_DATE_TEXT_LEN, "%s", clock.has_due ? clock.due : "");
  return CC_OK;
}

/* The due date of a new review that names none: for a scheduled review the date the episode's
 * next review is due (R-REV-1, from facts: the row of CLOCK_FACTS), for an urgent or a discharge
 * review today. A 422 for errors when a scheduled review has nothing to count from yet. */
static enum cc_status default_due_on(const struct exchange *x, const struct episode *ep,
                                     const char *type, PGresult *facts,
                                     char due[CIVIL_DATE_TEXT_LEN], struct field_errors *errors) {
  if (strcmp(type, "scheduled") != 0) {
    uk_local_date(time(NULL), due);
    return CC_OK;
  }
  if (!facts || PQntuples(facts) != 1) return CC_INTERNAL;
  const char *last_held = PQgetisnull(facts, 0, 0) ? NULL : PQgetvalue(facts, 0, 0);
  char start_date[CIVIL_DATE_TEXT_LEN];
  const char *clock_start = NULL;
  if (!PQgetisnull(facts, 0, 1)) {
    uk_local_date((time_t)atoll(PQgetvalue(facts, 0, 1)), start_date);
    clock_start = start_date;
  }
  enum cc_status status = next_review_due(x, ep->care_level, last_held, clock_start, due);
  if (status == CC_OK && !due[0])
    field_errors_add(errors, "/due_on", "R-REV-1",
                     "is required: no review is due by policy until a care co-ordinator or "
                     "lead professional is allocated");
  return status;
}

void reviews_create(struct exchange *x) {
  if (!record_body_valid(x, REVIEW_FIELDS, VALIDATE_CREATE)) return;
  struct tx tx;
  struct episode ep;
  struct episode_fetch facts = {&CLOCK_FACTS, (const char *const[]){x->params[0]}, NULL};
  char *params[6] = {0};
  json_t *details = NULL;
  enum access_decision decision;
  enum idempotency_state idem = IDEMPOTENCY_NONE;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) goto failed;
  if (!episode_access_with(x, &tx, RESOURCE, NULL, false, ACCESS_WRITE,
                           access_break_glass_requested(x), &ep, &decision, &facts))
    goto done;
  if (!ep.open) {
    reply_problem(x, CC_CONFLICT, "The episode is closed: reviews belong to open episodes.");
    goto done;
  }
  /* Claimed after the access step, whose refusal commits: a refused request leaves no key. */
  if (idempotency_begin(x, &tx, &idem) != CC_OK || idem == IDEMPOTENCY_REPLAYED) goto done;
  struct field_errors errors = {0};
  check_review(x->body, &errors);
  const char *type = json_string_value(json_object_get(x->body, "type"));
  const char *due_on = json_string_value(json_object_get(x->body, "due_on"));
  char default_due[CIVIL_DATE_TEXT_LEN] = "";
  if (!due_on) {
    status = default_due_on(x, &ep, type, facts.result, default_due, &errors);
    due_on = default_due;
  }
  if (status == CC_OK && !errors.count)
    status = check_invitee_links(&tx, ep.service_user_id, json_object_get(x->body, "invitees"),
                                 &errors);
  if (status != CC_OK) goto failed;
  if (errors.count) {
    reply_validation(x, &errors);
    goto done;
  }
  params[0] = strdup(ep.id);
  params[1] = strdup(type);
  params[2] = strdup(due_on);
  params[3] = fields_param_new(json_object_get(x->body, "request_reason"));
  params[4] = fields_param_new(json_object_get(x->body, "invitees"));
  params[5] = strdup(x->principal.subject);
  details = json_pack("{s:s, s:s}", "type", params[1], "due_on", params[2]);
  episode_child_insert(x, &tx, &ep, &INSERT, (const char *const *)params, CONSTRAINTS, RESOURCE,
                       "reviews", details, idem);
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) free(params[i]);
  json_decref(details);
  PQclear(facts.result);
  tx_end(&tx);
}

void reviews_get(struct exchange *x) { episode_child_get(x, RESOURCE, &SELECT, NOT_FOUND); }

void reviews_list(struct exchange *x) { episode_child_list(x, RESOURCE, &LIST); }

static const struct child_lock LOCK_PLANNED = {
    &LOCK, "review", NOT_FOUND, "held",
    "This review was held, and held reviews never change: plan the next review instead.", RESOURCE};

void reviews_update(struct exchange *x) {
  const char *id = episode_child_id(x, NOT_FOUND);
  if (!id) return;
  long expected = 0;
  if (exchange_if_match(x, &expected) != CC_OK) return;
  if (!record_body_valid(x, REVIEW_FIELDS, VALIDATE_PATCH)) return;
  struct tx tx;
  struct episode ep;
  PGresult *res = NULL;
  json_t *current = NULL, *merged = NULL;
  char *params[4] = {0};
  enum cc_status status = CC_OK;
  if (!episode_child_begin_change(x, &tx, false, &LOCK_PLANNED, id, expected,
                                  "The episode is closed: its reviews no longer change.",
                                  &ep, &res, &current))
    goto done;
  merged = fields_merge_patch_new(current, x->body);
  struct field_errors errors = {0};
  fields_validate_merged(merged, REVIEW_FIELDS, &errors);
  if (!errors.count) check_review(merged, &errors);
  /* Staff and carer invitees are checked when the list is written: one who has since left, or
   * whose consent has since changed, does not stop the review's date from moving. */
  if (!errors.count && json_object_get(x->body, "invitees"))
    status = check_invitee_links(&tx, ep.service_user_id, json_object_get(merged, "invitees"),
                                 &errors);
  if (status != CC_OK) goto failed;
  if (errors.count) {
    reply_validation(x, &errors);
    goto done;
  }
  params[0] = strdup(id);
  params[1] = fields_param_new(json_object_get(merged, "due_on"));
  params[2] = fields_param_new(json_object_get(merged, "request_reason"));
  params[3] = fields_param_new(json_object_get(merged, "invitees"));
  episode_child_update(x, &tx, &ep, &UPDATE, (const char *const *)params, CONSTRAINTS, RESOURCE,
                       id, REVIEW_FIELDS, current, merged);
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) free(params[i]);
  json_decref(merged);
  json_decref(current);
  PQclear(res);
  tx_end(&tx);
}

/* The rules of an outcome body against the episode as it is: held_on not after today, the
 * replacement invitees, and R-REV-3 (the outcome fits the care level; *after receives the level
 * it leaves the episode at). */
static void check_outcome(const json_t *body, const struct episode *ep, enum care_level *after,
                          struct field_errors *errors) {
  char today[CIVIL_DATE_TEXT_LEN];
  uk_local_date(time(NULL), today);
  struct civil_date held_on, today_date;
  if (civil_date_parse(json_string_value(json_object_get(body, "held_on")), &held_on) &&
      civil_date_parse(today, &today_date) && civil_date_compare(held_on, today_date) > 0)
    field_errors_add(errors, "/held_on", NULL,
                     "must not be after today (%s): record a review once it has been held", today);
  check_invitees(json_object_get(body, "invitees"), errors);
  enum review_outcome outcome;
  const char *problem = NULL;
  if (review_outcome_parse(json_string_value(json_object_get(body, "outcome")), &outcome) &&
      !review_outcome_care_level(outcome, ep->care_level, after, &problem))
    field_errors_add(errors, "/outcome", "R-REV-3", "%s", problem);
}

/* R-REV-3: the outcome's care level becomes the episode's, with its history line and audit
 * event naming the review. */
static enum cc_status change_care_level(struct exchange *x, struct tx *tx,
                                        const struct episode *ep, const char *review_id,
                                        const char *outcome, enum care_level level) {
  char reason[160];
  snprintf(reason, sizeof reason, "Outcome %s of CPA review %s.", outcome, review_id);
  return episode_set_care_level(x, tx, ep, level, reason, "review_id", review_id);
}

void reviews_record_outcome(struct exchange *x) {
  const char *id = episode_child_id(x, NOT_FOUND);
  if (!id) return;
  long expected = 0;
  if (exchange_if_match(x, &expected) != CC_OK) return;
  if (!record_body_valid(x, OUTCOME_FIELDS, VALIDATE_CREATE)) return;
  struct tx tx;
  struct episode ep;
  PGresult *res = NULL, *held = NULL;
  json_t *current = NULL, *after_holding = NULL, *changes = NULL, *details = NULL;
  char *params[11] = {0};
  enum cc_status status = CC_OK;
  /* The episode is locked: a step_down or step_up changes its care level, which must be the
   * level the outcome was checked against. */
  if (!episode_child_begin_change(x, &tx, true, &LOCK_PLANNED, id, expected,
                                  "The episode is closed: its reviews can no longer be held.",
                                  &ep, &res, &current))
    goto done;
  struct field_errors errors = {0};
  enum care_level after = ep.care_level;
  check_outcome(x->body, &ep, &after, &errors);
  const json_t *invitees = json_object_get(x->body, "invitees");
  if (!errors.count && invitees)
    status = check_invitee_links(&tx, ep.service_user_id, invitees, &errors);
  if (status != CC_OK) goto failed;
  if (errors.count) {
    reply_validation(x, &errors);
    goto done;
  }
  /* R-REV-2: the next review is due at the interval of the level the episode is left at,
   * counted from this one. */
  const char *held_on = json_string_value(json_object_get(x->body, "held_on"));
  char next_due[CIVIL_DATE_TEXT_LEN];
  status = next_review_due(x, after, held_on, NULL, next_due);
  if (status == CC_OK && !next_due[0]) status = CC_INTERNAL;
  if (status != CC_OK) goto failed;
  const char *outcome = json_string_value(json_object_get(x->body, "outcome"));
  params[0] = strdup(id);
  params[1] = strdup(held_on);
  params[2] = fields_param_new(json_object_get(x->body, "attendees"));
  params[3] = fields_param_new(json_object_get(x->body, "chaired_by"));
  params[4] = fields_param_new(json_object_get(x->body, "summary"));
  params[5] = strdup(outcome);
  params[6] = fields_param_new(invitees);
  params[7] = strdup(care_level_name(ep.care_level));
  params[8] = strdup(care_level_name(after));
  params[9] = strdup(next_due);
  params[10] = strdup(x->principal.subject);
  status = tx_exec(&tx, &HOLD, (const char *const *)params, &held);
  if (status == CC_OK && PQntuples(held) != 1) status = CC_INTERNAL;
  if (status == CC_OK && !(after_holding = json_loads(PQgetvalue(held, 0, 2), 0, NULL)))
    status = CC_INTERNAL;
  if (status != CC_OK) goto failed;
  changes = fields_changes_new(current, after_holding, HOLDING_CHANGES);
  details = json_pack("{s:O}", "changes", changes);
  status = episode_audit(x, &tx, "update", RESOURCE, id, &ep, details);
  if (status == CC_OK && after != ep.care_level)
    status = change_care_level(x, &tx, &ep, id, outcome, after);
  /* R-TRF-5: a discharge outcome closes the episode and ends its allocation with the review, in
   * this transaction. R-ASM-7 may refuse it: then nothing is committed, the review included. */
  if (status == CC_OK && strcmp(outcome, "discharge") == 0) {
    struct field_errors refusal = {0};
    char reason[160];
    snprintf(reason, sizeof reason, "Discharged at CPA review %s.", id);
    status = episode_discharge(x, &tx, &ep, reason, "review_id", id, &refusal);
    if (status == CC_OK && refusal.count) {
      /* The record lacks what discharge needs: a conflict with its state, as for a transfer. */
      reply_problem(x, CC_CONFLICT, "%s (%s)", refusal.items[0].reason, refusal.items[0].rule);
      goto done;
    }
  }
  record_commit_reply(x, &tx, status, held);
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) free(params[i]);
  json_decref(details);
  json_decref(changes);
  json_decref(after_holding);
  json_decref(current);
  PQclear(held);
  PQclear(res);
  tx_end(&tx);
}
