/* Care plans (DOMAIN.md care cycle step 5; R-CPL-1..4): what the person needs, their goals in
 * their own words, who does what and how often, how risks are managed, what to do in a crisis and
 * whom to call when the co-ordinator is away.
 *
 * Lifecycle (R-CPL-3): a plan starts as a draft, edited in place (merge patches with If-Match).
 * Activating it makes it the episode's plan: version 1 is kept in care_plan_versions, and the
 * plan active before it becomes superseded in the same transaction. Each change of an active plan
 * is the next version, kept beside the earlier ones, and the person's agreement starts afresh
 * (they have not agreed to the new version). A superseded plan never changes (409; a trigger
 * backs this up), and neither do versions, agreements and distributions.
 *
 * R-CPL-2: a plan of an episode on CPA becomes (and, when changed, stays) active only with a
 * crisis plan and a contingency plan. R-CPL-4: the person's agreement with the current version
 * (or why not) and to whom each version was sent are recorded; the plan and the episode summary
 * show whether the current version went to the person and the GP.
 *
 * Access is the person's (auth/policy.h), as for assessments: reads are audited reads of the
 * person's record, break-glass allowed; writes need the relationship. The audit trail names the
 * members a change touched, never their content. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/idempotency.h"
#include "json_diff.h"
#include "resources/care_plans.h"
#include "resources/carers.h"
#include "resources/episodes.h"
#include "resources/record.h"
#include "resources/resources.h"
#include "rules/assessment_rules.h"

#define RESOURCE "care_plan"
#define NOT_FOUND "No care plan of this episode has this id."

#define TEXT(NAME, FLAGS)                                                                        \
  {.name = NAME, .kind = FIELD_TEXT, .flags = FLAGS, .min_len = 1, .max_len = 10000}
#define NAME_TEXT(NAME, FLAGS)                                                                   \
  {.name = NAME, .kind = FIELD_STRING, .flags = FLAGS, .min_len = 1, .max_len = 200}
#define PHONE(NAME, FLAGS)                                                                       \
  {.name = NAME, .kind = FIELD_STRING, .flags = FLAGS, .min_len = 3, .max_len = 30}

static bool need_domain_known(const char *name) {
  if (strcmp(name, "other") == 0) return true;
  for (const char *const *d = HOLISTIC_DOMAINS; *d; d++)
    if (strcmp(*d, name) == 0) return true;
  return false;
}

/* Needs, linked to the assessment domains (and to the assessment that found them). */
static const struct field_spec NEED_FIELDS[] = {
    {.name = "domain", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 1,
     .max_len = 100, .check = need_domain_known,
     .check_reason = "must be one of the holistic assessment's domains, or other"},
    TEXT("description", FIELD_REQUIRED),
    {.name = "assessment_id", .kind = FIELD_UUID, .flags = FIELD_NULLABLE},
    {0}};

static const struct field_spec GOAL_FIELDS[] = {
    TEXT("in_own_words", FIELD_REQUIRED),
    {.name = "target_date", .kind = FIELD_DATE, .flags = FIELD_NULLABLE},
    {0}};

static const char *const PROVIDERS[] = {"staff", "agency", "person", "carer", NULL};

static const struct field_spec INTERVENTION_FIELDS[] = {
    TEXT("what", FIELD_REQUIRED),
    {.name = "delivered_by", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = PROVIDERS},
    {.name = "staff_id", .kind = FIELD_UUID, .flags = FIELD_NULLABLE},
    NAME_TEXT("provider_name", FIELD_NULLABLE),
    NAME_TEXT("frequency", FIELD_REQUIRED),
    {.name = "from", .kind = FIELD_DATE, .flags = FIELD_NULLABLE},
    {.name = "to", .kind = FIELD_DATE, .flags = FIELD_NULLABLE},
    {0}};

/* Linked to the risk items of the assessment (by category). */
static const struct field_spec RISK_PLAN_FIELDS[] = {
    TEXT("plan", FIELD_REQUIRED),
    {.name = "risk_categories", .kind = FIELD_STRING_ARRAY, .flags = FIELD_REQUIRED,
     .min_len = 0, .max_len = 13, .check = risk_category_known,
     .check_reason = "must be a risk category of the assessments' risk items"},
    {.name = "assessment_id", .kind = FIELD_UUID, .flags = FIELD_NULLABLE},
    {0}};

static const struct field_spec CONTACT_FIELDS[] = {
    NAME_TEXT("name", FIELD_REQUIRED), PHONE("number", FIELD_REQUIRED), {0}};

static const struct field_spec CRISIS_PLAN_FIELDS[] = {
    TEXT("early_warning_signs", FIELD_REQUIRED),
    TEXT("what_person_should_do", FIELD_REQUIRED),
    TEXT("what_others_should_do", FIELD_REQUIRED),
    /* Numbers to call 24 hours a day, 7 days a week. */
    {.name = "contacts_24_7", .kind = FIELD_OBJECT_ARRAY, .flags = FIELD_REQUIRED, .min_len = 1,
     .max_len = 10, .members = CONTACT_FIELDS},
    {0}};

/* Whom to contact when the co-ordinator is absent. */
static const struct field_spec CONTINGENCY_PLAN_FIELDS[] = {
    NAME_TEXT("contact_name", FIELD_REQUIRED),
    NAME_TEXT("contact_role", FIELD_NULLABLE),
    PHONE("contact_phone", FIELD_REQUIRED),
    TEXT("arrangements", FIELD_NULLABLE),
    {0}};

#define LIST(NAME, MAX, MEMBERS)                                                                 \
  {.name = NAME, .kind = FIELD_OBJECT_ARRAY, .min_len = 0, .max_len = MAX, .members = MEMBERS}
#define SECTION(NAME, MEMBERS)                                                                   \
  {.name = NAME, .kind = FIELD_OBJECT, .flags = FIELD_NULLABLE, .members = MEMBERS}
#define READ_ONLY(NAME) {.name = NAME, .kind = FIELD_STRING, .flags = FIELD_READ_ONLY}

/* The plan as create and merge-patch bodies see it: its content, and what the server keeps. */
static const struct field_spec CARE_PLAN_FIELDS[] = {
    READ_ONLY("id"),
    READ_ONLY("episode_id"),
    READ_ONLY("service_user_id"),
    READ_ONLY("status"),
    READ_ONLY("plan_version"),
    LIST("needs", 50, NEED_FIELDS),
    LIST("goals", 30, GOAL_FIELDS),
    LIST("interventions", 50, INTERVENTION_FIELDS),
    SECTION("risk_management_plan", RISK_PLAN_FIELDS),
    SECTION("crisis_plan", CRISIS_PLAN_FIELDS),
    SECTION("contingency_plan", CONTINGENCY_PLAN_FIELDS),
    TEXT("persons_views", FIELD_NULLABLE),
    TEXT("carers_views", FIELD_NULLABLE),
    TEXT("advance_statements", FIELD_NULLABLE),
    READ_ONLY("agreement"),
    READ_ONLY("signed"),
    READ_ONLY("sent_to_person"),
    READ_ONLY("sent_to_gp"),
    READ_ONLY("created_at"),
    READ_ONLY("created_by"),
    READ_ONLY("updated_at"),
    READ_ONLY("activated_at"),
    READ_ONLY("superseded_at"),
    READ_ONLY("superseded_by_care_plan_id"),
    READ_ONLY("version"),
    {0}};

/* The members that make the content of a version (R-CPL-3), in the order they are shown. */
static const char *const CONTENT[] = {"needs",         "goals",           "interventions",
                                      "risk_management_plan", "crisis_plan", "contingency_plan",
                                      "persons_views", "carers_views",    "advance_statements"};
#define CONTENT_COUNT (sizeof CONTENT / sizeof CONTENT[0])

static const char *const HOW_AGREED[] = {"signed", "verbal", NULL};

/* R-CPL-4: the body of POST …/agreement. */
static const struct field_spec AGREEMENT_FIELDS[] = {
    {.name = "agreed", .kind = FIELD_BOOL, .flags = FIELD_REQUIRED},
    {.name = "agreed_on", .kind = FIELD_DATE, .flags = FIELD_NULLABLE},
    {.name = "how", .kind = FIELD_ENUM, .flags = FIELD_NULLABLE, .choices = HOW_AGREED},
    TEXT("reason_not_agreed", FIELD_NULLABLE),
    TEXT("carer_involvement", FIELD_NULLABLE),
    {0}};

static const char *const RECIPIENTS[] = {"person", "gp", "carer", "agency", NULL};
static const char *const METHODS[] = {"post",   "email",  "secure_email", "hand",
                                      "portal", "phone_summary", NULL};

/* R-CPL-4: the body of POST …/distributions. A carer is named by carer_id: the plan goes to them
 * only with the person's consent (R-CAR-1). */
static const struct field_spec DISTRIBUTION_FIELDS[] = {
    {.name = "recipient_type", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = RECIPIENTS},
    {.name = "carer_id", .kind = FIELD_UUID, .flags = FIELD_NULLABLE},
    NAME_TEXT("recipient_name", FIELD_NULLABLE),
    {.name = "method", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = METHODS},
    {.name = "sent_on", .kind = FIELD_DATE, .flags = FIELD_REQUIRED},
    {0}};

/* id, version, representation: the content's members beside the plan's own. */
#define CARE_PLAN_COLUMNS                                                                        \
  "p.id, p.version, (jsonb_build_object('id', p.id, 'episode_id', p.episode_id,"                \
  " 'service_user_id', (SELECT e.service_user_id FROM episodes e WHERE e.id = p.episode_id),"    \
  " 'status', p.status, 'plan_version', p.plan_version,"                                         \
  " 'agreement', " AGREEMENT_OF("p", "p.plan_version") ","                                       \
  " 'signed', COALESCE(" AGREEMENT_OF("p", "p.plan_version") "->>'how' = 'signed', false),"     \
  " 'sent_to_person', " SENT_TO("p", "person") ", 'sent_to_gp', " SENT_TO("p", "gp") ","         \
  " 'created_at', p.created_at, 'created_by', p.created_by, 'updated_at', p.updated_at,"         \
  " 'activated_at', p.activated_at, 'superseded_at', p.superseded_at,"                           \
  " 'superseded_by_care_plan_id', p.superseded_by_care_plan_id, 'version', p.version)"          \
  " || p.content)::text"

static const struct db_stmt INSERT = {
    "care_plans_insert",
    "INSERT INTO care_plans AS p (episode_id, content, created_by)"
    " VALUES ($1::uuid, $2::jsonb, $3) RETURNING " CARE_PLAN_COLUMNS,
    3};
static const struct db_stmt SELECT = {
    "care_plans_select",
    "SELECT " CARE_PLAN_COLUMNS " FROM care_plans p"
    " WHERE p.id = $1::uuid AND p.episode_id = $2::uuid",
    2};
/* The fourth column is the status, the fifth the content. */
static const struct db_stmt LOCK = {
    "care_plans_lock",
    "SELECT " CARE_PLAN_COLUMNS ", p.status, p.content::text FROM care_plans p"
    " WHERE p.id = $1::uuid AND p.episode_id = $2::uuid FOR UPDATE",
    2};
static const struct db_stmt UPDATE_DRAFT = {
    "care_plans_update_draft",
    "UPDATE care_plans AS p SET content = $2::jsonb, updated_at = now(), version = p.version + 1"
    " WHERE p.id = $1::uuid AND p.status = 'draft' RETURNING " CARE_PLAN_COLUMNS,
    2};
/* R-CPL-3: a change of an active plan is its next version ($3: the author). */
static const struct db_stmt UPDATE_ACTIVE = {
    "care_plans_update_active",
    "WITH changed AS (UPDATE care_plans SET content = $2::jsonb, plan_version = plan_version + 1,"
    "   updated_at = now(), version = version + 1 WHERE id = $1::uuid AND status = 'active'"
    "   RETURNING *),"
    " kept AS (INSERT INTO care_plan_versions (care_plan_id, number, content, created_by)"
    "   SELECT id, plan_version, content, $3 FROM changed)"
    " SELECT " CARE_PLAN_COLUMNS " FROM changed p",
    3};
/* The episode's active plan, other than $2, becomes superseded by $2. */
static const struct db_stmt SUPERSEDE = {
    "care_plans_supersede",
    "UPDATE care_plans SET status = 'superseded', superseded_at = now(),"
    " superseded_by_care_plan_id = $2::uuid, updated_at = now(), version = version + 1"
    " WHERE episode_id = $1::uuid AND status = 'active' AND id <> $2::uuid RETURNING id",
    2};
static const struct db_stmt ACTIVATE = {
    "care_plans_activate",
    "WITH changed AS (UPDATE care_plans SET status = 'active', activated_at = now(),"
    "   updated_at = now(), version = version + 1 WHERE id = $1::uuid AND status = 'draft'"
    "   RETURNING *),"
    " kept AS (INSERT INTO care_plan_versions (care_plan_id, number, content, created_by)"
    "   SELECT id, plan_version, content, $2 FROM changed)"
    " SELECT " CARE_PLAN_COLUMNS " FROM changed p",
    2};
/* R-CPL-4: the agreement with the current version, then the plan as it now is. */
static const struct db_stmt AGREE = {
    "care_plans_agree",
    "WITH recorded AS (INSERT INTO care_plan_agreements (care_plan_id, plan_version, agreement,"
    "   recorded_by) SELECT id, plan_version, $2::jsonb, $3 FROM care_plans WHERE id = $1::uuid"
    "   RETURNING care_plan_id),"
    " changed AS (UPDATE care_plans SET updated_at = now(), version = version + 1"
    "   WHERE id = (SELECT care_plan_id FROM recorded) RETURNING *)"
    " SELECT 1 FROM changed",
    3};
static const struct db_stmt LIST = {
    "care_plans_list",
    "SELECT " CARE_PLAN_COLUMNS ", p.id::text FROM care_plans p"
    " WHERE p.episode_id = $1::uuid"
    "   AND ($2::uuid IS NULL OR (p.created_at, p.id) <"
    "        (SELECT c.created_at, c.id FROM care_plans c WHERE c.id = $2::uuid))"
    " ORDER BY p.created_at DESC, p.id DESC LIMIT $3",
    3};
/* Which assessments ($2) are not this episode's ($1), and which staff ($3) are not active. */
static const struct db_stmt UNKNOWN_LINKS = {
    "care_plans_unknown_links",
    "SELECT ARRAY(SELECT x::text FROM unnest($2::uuid[]) x WHERE NOT EXISTS (SELECT 1"
    "   FROM assessments a WHERE a.id = x AND a.episode_id = $1::uuid)),"
    " ARRAY(SELECT x::text FROM unnest($3::uuid[]) x WHERE NOT EXISTS (SELECT 1"
    "   FROM staff s WHERE s.id = x AND s.active))",
    3};

#define VERSION_JSON                                                                             \
  "json_build_object('care_plan_id', v.care_plan_id, 'number', v.number, 'content', v.content,"  \
  " 'created_at', v.created_at, 'created_by', v.created_by,"                                      \
  " 'agreement', (SELECT g.agreement || jsonb_build_object('recorded_at', g.recorded_at,"        \
  "   'recorded_by', g.recorded_by) FROM care_plan_agreements g"                                  \
  "   WHERE g.care_plan_id = v.care_plan_id AND g.plan_version = v.number"                        \
  "   ORDER BY g.recorded_at DESC, g.id DESC LIMIT 1))"

/* A plan's versions, oldest first, each with the plan's episode check ($2). */
static const struct db_stmt VERSIONS = {
    "care_plans_versions",
    "SELECT " VERSION_JSON "::text FROM care_plan_versions v JOIN care_plans p"
    " ON p.id = v.care_plan_id WHERE v.care_plan_id = $1::uuid AND p.episode_id = $2::uuid"
    " ORDER BY v.number",
    2};
/* Versions $3 and $4 of the plan, in that order, as the content JSON. */
static const struct db_stmt TWO_VERSIONS = {
    "care_plans_two_versions",
    "SELECT v.number, v.content::text FROM care_plan_versions v JOIN care_plans p"
    " ON p.id = v.care_plan_id WHERE v.care_plan_id = $1::uuid AND p.episode_id = $2::uuid"
    " AND v.number IN ($3::int, $4::int)",
    4};
static const struct db_stmt PLAN_EXISTS = {
    "care_plans_exists",
    "SELECT status, plan_version FROM care_plans WHERE id = $1::uuid AND episode_id = $2::uuid",
    2};

#define DISTRIBUTION_JSON                                                                        \
  "json_build_object('id', d.id, 'care_plan_id', d.care_plan_id, 'plan_version',"               \
  " d.plan_version, 'recipient_type', d.recipient_type, 'carer_id', d.carer_id,"                 \
  " 'recipient_name', d.recipient_name,"                                                          \
  " 'method', d.method, 'sent_on', d.sent_on, 'recorded_at', d.recorded_at,"                     \
  " 'recorded_by', d.recorded_by)::text"

static const struct db_stmt DISTRIBUTE = {
    "care_plans_distribute",
    "INSERT INTO care_plan_distributions AS d (care_plan_id, plan_version, recipient_type,"
    " recipient_name, method, sent_on, recorded_by, carer_id)"
    " VALUES ($1::uuid, $2::int, $3, $4, $5, $6::date, $7, $8::uuid)"
    " RETURNING d.id, " DISTRIBUTION_JSON,
    8};
static const struct db_stmt DISTRIBUTIONS = {
    "care_plans_distributions",
    "SELECT " DISTRIBUTION_JSON " FROM care_plan_distributions d JOIN care_plans p"
    " ON p.id = d.care_plan_id WHERE d.care_plan_id = $1::uuid AND p.episode_id = $2::uuid"
    " ORDER BY d.plan_version DESC, d.recorded_at DESC, d.id DESC",
    2};

static bool member_present(const json_t *record, const char *name) {
  const json_t *value = json_object_get(record, name);
  return value && !json_is_null(value);
}

/* The content of a version: every content member of record, [] or null when absent. */
static json_t *content_new(const json_t *record) {
  json_t *content = json_object();
  for (size_t i = 0; i < CONTENT_COUNT; i++) {
    json_t *value = json_object_get(record, CONTENT[i]);
    bool list = i < 3; /* needs, goals, interventions */
    json_object_set_new(content, CONTENT[i],
                        value ? json_deep_copy(value) : list ? json_array() : json_null());
  }
  return content;
}

/* An intervention names who delivers it: the staff member, or the agency or carer by name. */
static void check_interventions(const json_t *record, struct field_errors *errors) {
  size_t i;
  const json_t *item;
  json_array_foreach(json_object_get(record, "interventions"), i, item) {
    const char *by = json_string_value(json_object_get(item, "delivered_by"));
    char ptr[64];
    if (by && strcmp(by, "staff") == 0 && !member_present(item, "staff_id")) {
      snprintf(ptr, sizeof ptr, "/interventions/%zu/staff_id", i);
      field_errors_add(errors, ptr, NULL, "is required when a staff member delivers it");
    }
    if (by && (strcmp(by, "agency") == 0 || strcmp(by, "carer") == 0) &&
        !member_present(item, "provider_name")) {
      snprintf(ptr, sizeof ptr, "/interventions/%zu/provider_name", i);
      field_errors_add(errors, ptr, NULL, "is required: name the %s who delivers it", by);
    }
    const char *from = json_string_value(json_object_get(item, "from"));
    const char *to = json_string_value(json_object_get(item, "to"));
    if (from && to && strcmp(from, to) > 0) {
      snprintf(ptr, sizeof ptr, "/interventions/%zu/to", i);
      field_errors_add(errors, ptr, NULL, "must not be before from");
    }
  }
}

/* R-CPL-2: on CPA, an active plan has a crisis plan and a contingency plan. */
static void check_active_on_cpa(const json_t *record, const struct episode *ep,
                                struct field_errors *errors) {
  if (ep->care_level != CARE_LEVEL_CPA) return;
  if (!member_present(record, "crisis_plan"))
    field_errors_add(errors, "/crisis_plan", "R-CPL-2",
                     "is required: the episode is on CPA, and a CPA care plan is active only "
                     "with a crisis plan");
  if (!member_present(record, "contingency_plan"))
    field_errors_add(errors, "/contingency_plan", "R-CPL-2",
                     "is required: the episode is on CPA, and a CPA care plan is active only "
                     "with a contingency plan naming whom to contact when the co-ordinator is "
                     "absent");
}

/* Appends id (when a string) to the PostgreSQL array literal being built in text. */
static void add_to_array(char **text, const json_t *id) {
  const char *value = json_string_value(id);
  if (!value) return;
  size_t len = strlen(*text);
  char *grown = realloc(*text, len + strlen(value) + 2);
  if (!grown) return;
  sprintf(grown + len, "%s%s", len > 1 ? "," : "", value);
  *text = grown;
}

/* Adds an error at each pointer whose id is among the unknown ones (a PostgreSQL text array). */
static void report_unknown(const char *unknown, const json_t *id, const char *pointer,
                           const char *reason, struct field_errors *errors) {
  const char *value = json_string_value(id);
  if (value && strstr(unknown, value)) field_errors_add(errors, pointer, NULL, "%s", reason);
}

/* The assessments a plan links to are this episode's; the staff delivering interventions are
 * active staff members. Returns false after replying a failure. */
static bool check_links(struct exchange *x, struct tx *tx, const struct episode *ep,
                        const json_t *record, struct field_errors *errors) {
  char *assessments = strdup("{"), *staff = strdup("{");
  size_t i;
  const json_t *item;
  const json_t *needs = json_object_get(record, "needs");
  const json_t *interventions = json_object_get(record, "interventions");
  const json_t *risk_plan = json_object_get(record, "risk_management_plan");
  json_array_foreach(needs, i, item) {
    add_to_array(&assessments, json_object_get(item, "assessment_id"));
  }
  add_to_array(&assessments, json_object_get(risk_plan, "assessment_id"));
  json_array_foreach(interventions, i, item) {
    add_to_array(&staff, json_object_get(item, "staff_id"));
  }
  bool ok = true;
  if (strlen(assessments) > 1 || strlen(staff) > 1) {
    assessments = realloc(assessments, strlen(assessments) + 2);
    staff = realloc(staff, strlen(staff) + 2);
    strcat(assessments, "}");
    strcat(staff, "}");
    PGresult *res = NULL;
    const char *params[] = {ep->id, assessments, staff};
    enum cc_status status = tx_exec(tx, &UNKNOWN_LINKS, params, &res);
    if (status != CC_OK) {
      reply_problem(x, status, NULL);
      ok = false;
    } else {
      const char *unknown_assessments = PQgetvalue(res, 0, 0);
      const char *unknown_staff = PQgetvalue(res, 0, 1);
      char ptr[64];
      json_array_foreach(needs, i, item) {
        snprintf(ptr, sizeof ptr, "/needs/%zu/assessment_id", i);
        report_unknown(unknown_assessments, json_object_get(item, "assessment_id"), ptr,
                       "must name an assessment of this episode", errors);
      }
      report_unknown(unknown_assessments, json_object_get(risk_plan, "assessment_id"),
                     "/risk_management_plan/assessment_id",
                     "must name an assessment of this episode", errors);
      json_array_foreach(interventions, i, item) {
        snprintf(ptr, sizeof ptr, "/interventions/%zu/staff_id", i);
        report_unknown(unknown_staff, json_object_get(item, "staff_id"), ptr,
                       "must name an active staff member", errors);
      }
    }
    PQclear(res);
  }
  free(assessments);
  free(staff);
  return ok;
}

/* Every check of a plan's content beyond its field table. Returns false after replying a
 * failure; errors collects what is wrong with the content. */
static bool check_plan(struct exchange *x, struct tx *tx, const struct episode *ep,
                       const json_t *record, bool active, struct field_errors *errors) {
  check_interventions(record, errors);
  if (active) check_active_on_cpa(record, ep, errors);
  return errors->count || check_links(x, tx, ep, record, errors);
}

void care_plans_create(struct exchange *x) {
  if (!record_body_valid(x, CARE_PLAN_FIELDS, VALIDATE_CREATE)) return;
  struct tx tx;
  struct episode ep;
  json_t *content = content_new(x->body);
  char *content_text = NULL;
  enum idempotency_state idem = IDEMPOTENCY_NONE;
  if (!episode_child_begin_create(x, &tx, RESOURCE, &ep,
                                  "The episode is closed: care plans belong to open episodes.",
                                  &idem))
    goto done;
  struct field_errors errors = {0};
  if (!check_plan(x, &tx, &ep, content, false, &errors)) goto done;
  if (errors.count) {
    reply_validation(x, &errors);
    goto done;
  }
  content_text = fields_param_new(content);
  episode_child_insert(x, &tx, &ep, &INSERT,
                       (const char *const[]){ep.id, content_text, x->principal.subject}, NULL,
                       RESOURCE, "care-plans", NULL, idem);
done:
  free(content_text);
  json_decref(content);
  tx_end(&tx);
}

void care_plans_get(struct exchange *x) { episode_child_get(x, RESOURCE, &SELECT, NOT_FOUND); }

void care_plans_list(struct exchange *x) { episode_child_list(x, RESOURCE, &LIST); }

static const struct child_lock LOCK_CHANGEABLE = {
    &LOCK, "care plan", NOT_FOUND, "superseded",
    "This care plan was superseded and never changes: change the episode's active plan instead "
    "(R-CPL-3).", RESOURCE};

/* The start shared by the plan's changes, once If-Match gave `expected`: the access step (with
 * the episode locked when lock) and the plan locked, not superseded, its episode open; *status
 * receives the plan's status. Returns false after replying. */
static bool begin_change(struct exchange *x, struct tx *tx, bool lock, struct episode *ep,
                         const char *id, long expected, PGresult **res, json_t **current,
                         const char **status) {
  if (!episode_child_begin_change(x, tx, lock, &LOCK_CHANGEABLE, id, expected,
                                  "The episode is closed: its care plans no longer change.", ep,
                                  res, current))
    return false;
  *status = PQgetvalue(*res, 0, 3);
  return true;
}

void care_plans_update(struct exchange *x) {
  const char *id = episode_child_id(x, NOT_FOUND);
  long expected = 0;
  if (!id || exchange_if_match(x, &expected) != CC_OK ||
      !record_body_valid(x, CARE_PLAN_FIELDS, VALIDATE_PATCH))
    return;
  struct tx tx = {0};
  struct episode ep;
  const char *plan_status = NULL;
  PGresult *res = NULL, *updated = NULL;
  json_t *current = NULL, *merged = NULL, *before = NULL, *after = NULL, *changes = NULL,
         *details = NULL;
  char *content_text = NULL;
  enum cc_status status = CC_OK;
  if (!begin_change(x, &tx, false, &ep, id, expected, &res, &current, &plan_status)) goto done;
  bool active = strcmp(plan_status, "active") == 0;
  merged = fields_merge_patch_new(current, x->body);
  struct field_errors errors = {0};
  fields_validate_merged(merged, CARE_PLAN_FIELDS, &errors);
  if (!errors.count && !check_plan(x, &tx, &ep, merged, active, &errors)) goto done;
  if (errors.count) {
    reply_validation(x, &errors);
    goto done;
  }
  before = content_new(current);
  after = content_new(merged);
  content_text = fields_param_new(after);
  if (active && json_equal(before, after)) {
    /* Nothing changed: no new version, the plan is returned as it is. */
    status = tx_exec(&tx, &SELECT, (const char *const[]){id, ep.id}, &updated);
  } else if (active) {
    status = tx_exec(&tx, &UPDATE_ACTIVE,
                     (const char *const[]){id, content_text, x->principal.subject}, &updated);
  } else {
    status = tx_exec(&tx, &UPDATE_DRAFT, (const char *const[]){id, content_text}, &updated);
  }
  if (status == CC_OK && PQntuples(updated) != 1) status = CC_INTERNAL;
  if (status != CC_OK) goto failed;
  changes = fields_changes_new(current, merged, CARE_PLAN_FIELDS);
  if (json_array_size(changes)) {
    details = active ? json_pack("{s:O, s:I}", "changes", changes, "new_plan_version",
                                 json_integer_value(json_object_get(current, "plan_version")) + 1)
                     : json_pack("{s:O}", "changes", changes);
    status = episode_audit(x, &tx, "update", RESOURCE, id, &ep, details);
  }
  record_commit_reply(x, &tx, status, updated);
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  free(content_text);
  json_decref(details);
  json_decref(changes);
  json_decref(after);
  json_decref(before);
  json_decref(merged);
  json_decref(current);
  PQclear(updated);
  PQclear(res);
  tx_end(&tx);
}

void care_plans_activate(struct exchange *x) {
  const char *id = episode_child_id(x, NOT_FOUND);
  long expected = 0;
  if (!id || exchange_if_match(x, &expected) != CC_OK) return;
  struct tx tx = {0};
  struct episode ep;
  const char *plan_status = NULL;
  PGresult *res = NULL, *superseded = NULL, *activated = NULL;
  json_t *current = NULL, *details = NULL;
  enum cc_status status = CC_OK;
  /* The episode is locked: two plans activated at once queue up, and the second supersedes the
   * first. */
  if (!begin_change(x, &tx, true, &ep, id, expected, &res, &current, &plan_status)) goto done;
  if (strcmp(plan_status, "draft") != 0) {
    reply_problem(x, CC_CONFLICT, "This care plan is already active: a change to it is a new "
                                  "version (PATCH).");
    goto done;
  }
  struct field_errors errors = {0};
  if (!check_plan(x, &tx, &ep, current, true, &errors)) goto done;
  if (errors.count) {
    reply_validation(x, &errors);
    goto done;
  }
  status = tx_exec(&tx, &SUPERSEDE, (const char *const[]){ep.id, id}, &superseded);
  for (int r = 0; status == CC_OK && r < PQntuples(superseded); r++) {
    json_t *d = json_pack("{s:[{s:s, s:s, s:s}], s:s}", "changes", "field", "status", "old",
                          "active", "new", "superseded", "superseded_by_care_plan_id", id);
    status = episode_audit(x, &tx, "update", RESOURCE, PQgetvalue(superseded, r, 0), &ep, d);
    json_decref(d);
  }
  if (status == CC_OK)
    status = tx_exec(&tx, &ACTIVATE, (const char *const[]){id, x->principal.subject}, &activated);
  if (status == CC_OK && PQntuples(activated) != 1) status = CC_INTERNAL;
  if (status != CC_OK) goto failed;
  details = json_pack("{s:[{s:s, s:s, s:s}]}", "changes", "field", "status", "old", "draft", "new",
                      "active");
  status = episode_audit(x, &tx, "update", RESOURCE, id, &ep, details);
  record_commit_reply(x, &tx, status, activated);
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  json_decref(details);
  json_decref(current);
  PQclear(activated);
  PQclear(superseded);
  PQclear(res);
  tx_end(&tx);
}

/* R-CPL-4: agreed (when, how) or the reason not. */
static void check_agreement(const json_t *body, struct field_errors *errors) {
  bool agreed = json_is_true(json_object_get(body, "agreed"));
  if (agreed) {
    if (!member_present(body, "agreed_on"))
      field_errors_add(errors, "/agreed_on", "R-CPL-4", "is required when the person agreed");
    if (!member_present(body, "how"))
      field_errors_add(errors, "/how", "R-CPL-4",
                       "is required when the person agreed: signed or verbal");
    if (member_present(body, "reason_not_agreed"))
      field_errors_add(errors, "/reason_not_agreed", "R-CPL-4",
                       "is recorded only when the person did not agree");
  } else {
    if (!member_present(body, "reason_not_agreed"))
      field_errors_add(errors, "/reason_not_agreed", "R-CPL-4",
                       "is required when the person did not agree");
    if (member_present(body, "agreed_on") || member_present(body, "how"))
      field_errors_add(errors, member_present(body, "how") ? "/how" : "/agreed_on", "R-CPL-4",
                       "is recorded only when the person agreed");
  }
}

void care_plans_agreement(struct exchange *x) {
  const char *id = episode_child_id(x, NOT_FOUND);
  long expected = 0;
  if (!id || exchange_if_match(x, &expected) != CC_OK ||
      !record_body_valid(x, AGREEMENT_FIELDS, VALIDATE_CREATE))
    return;
  struct field_errors errors = {0};
  check_agreement(x->body, &errors);
  if (errors.count) {
    reply_validation(x, &errors);
    return;
  }
  struct tx tx = {0};
  struct episode ep;
  const char *plan_status = NULL;
  PGresult *res = NULL, *agreed = NULL, *plan = NULL;
  json_t *current = NULL, *details = NULL;
  char *agreement = NULL;
  enum cc_status status = CC_OK;
  if (!begin_change(x, &tx, false, &ep, id, expected, &res, &current, &plan_status)) goto done;
  agreement = fields_param_new(x->body);
  status = tx_exec(&tx, &AGREE, (const char *const[]){id, agreement, x->principal.subject},
                   &agreed);
  if (status == CC_OK && PQntuples(agreed) != 1) status = CC_INTERNAL;
  if (status == CC_OK) {
    details = json_pack("{s:[{s:s}], s:I, s:b}", "changes", "field", "agreement", "plan_version",
                        json_integer_value(json_object_get(current, "plan_version")), "agreed",
                        json_is_true(json_object_get(x->body, "agreed")));
    status = episode_audit(x, &tx, "update", RESOURCE, id, &ep, details);
  }
  if (status == CC_OK) status = tx_exec(&tx, &SELECT, (const char *const[]){id, ep.id}, &plan);
  if (status == CC_OK && PQntuples(plan) != 1) status = CC_INTERNAL;
  if (status != CC_OK) goto failed;
  record_commit_reply(x, &tx, status, plan);
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  free(agreement);
  json_decref(details);
  json_decref(current);
  PQclear(plan);
  PQclear(agreed);
  PQclear(res);
  tx_end(&tx);
}

/* Builds a history read's body from its statement's result; CC_NOT_FOUND after replying 404. */
typedef enum cc_status (*history_body_fn)(struct exchange *x, PGresult *res, const void *context,
                                          json_t **body);

/* The reads of a plan's history: the access step (break-glass allowed) and a read event. Runs
 * stmt ($1 plan id, $2 episode id, then extra1, extra2) and replies with what build makes of its
 * result. */
static void read_history(struct exchange *x, const char *resource_type,
                         const struct db_stmt *stmt, const char *extra1, const char *extra2,
                         history_body_fn build, const void *context) {
  const char *id = episode_child_id(x, NOT_FOUND), *reason = NULL;
  if (!id || !access_break_glass_reason(x, &reason)) return;
  struct tx tx;
  struct episode ep;
  struct episode_fetch fetch = {&PLAN_EXISTS, (const char *const[]){id, x->params[0]}, NULL};
  PGresult *res = NULL;
  json_t *body = NULL;
  enum access_decision decision;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) goto failed;
  if (!episode_access_with(x, &tx, resource_type, id, false, ACCESS_READ, reason != NULL, &ep,
                           &decision, &fetch))
    goto done;
  if (PQntuples(fetch.result) == 0) {
    reply_problem(x, CC_NOT_FOUND, NOT_FOUND);
    goto done;
  }
  status = tx_exec(&tx, stmt, (const char *const[]){id, ep.id, extra1, extra2}, &res);
  if (status == CC_OK) status = build(x, res, context, &body);
  if (status == CC_NOT_FOUND) goto done; /* build replied */
  if (status == CC_OK) {
    struct access_target target = {resource_type, id, ep.service_user_id};
    status = access_audit_read(x, &tx, &target, decision, reason);
  }
  if (status == CC_OK) status = tx_commit(&tx);
  if (status != CC_OK) goto failed;
  reply_json(x, 200, body);
  body = NULL;
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  json_decref(body);
  PQclear(fetch.result);
  PQclear(res);
  tx_end(&tx);
}

/* {items: [each row's JSON text]} */
static enum cc_status items_body(struct exchange *x, PGresult *res, const void *context,
                                 json_t **body) {
  (void)x, (void)context;
  json_t *items = json_array();
  for (int r = 0; r < PQntuples(res); r++) {
    json_t *item = json_loads(PQgetvalue(res, r, PQnfields(res) - 1), 0, NULL);
    if (!item) {
      json_decref(items);
      return CC_INTERNAL;
    }
    json_array_append_new(items, item);
  }
  *body = json_pack("{s:o}", "items", items);
  return CC_OK;
}

void care_plans_versions(struct exchange *x) {
  read_history(x, RESOURCE, &VERSIONS, NULL, NULL, items_body, NULL);
}

/* A version number from the path or the query: 1..1000000, else NULL after replying. */
static bool version_number(struct exchange *x, const char *text, const char *what, int *out,
                           enum cc_status invalid) {
  size_t digits = text ? strspn(text, "0123456789") : 0;
  long n = digits && digits <= 7 && !text[digits] && text[0] != '0' ? strtol(text, NULL, 10) : 0;
  if (n < 1 || n > 1000000) {
    reply_problem(x, invalid, "%s must be a version number (1, 2, ...).", what);
    return false;
  }
  *out = (int)n;
  return true;
}

static enum cc_status one_version_body(struct exchange *x, PGresult *res, const void *context,
                                       json_t **body) {
  (void)context;
  if (PQntuples(res) != 1) {
    reply_problem(x, CC_NOT_FOUND, "This care plan has no such version.");
    return CC_NOT_FOUND;
  }
  *body = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
  return *body ? CC_OK : CC_INTERNAL;
}

static const struct db_stmt ONE_VERSION = {
    "care_plans_one_version",
    "SELECT " VERSION_JSON "::text FROM care_plan_versions v JOIN care_plans p"
    " ON p.id = v.care_plan_id WHERE v.care_plan_id = $1::uuid AND p.episode_id = $2::uuid"
    " AND v.number = $3::int",
    3};

void care_plans_version(struct exchange *x) {
  int number;
  if (x->param_count < 3 ||
      !version_number(x, x->params[2], "The path's version", &number, CC_NOT_FOUND))
    return;
  char text[16];
  snprintf(text, sizeof text, "%d", number);
  read_history(x, RESOURCE, &ONE_VERSION, text, NULL, one_version_body, NULL);
}

/* The version numbers compared. */
struct diff_request {
  int from, to;
};

/* R-CPL-3: what changed from one version to the other (json_diff.h). */
static enum cc_status diff_body(struct exchange *x, PGresult *res, const void *context,
                                json_t **body) {
  const struct diff_request *diff_request = context;
  json_t *from = NULL, *to = NULL;
  for (int r = 0; r < PQntuples(res); r++) {
    json_t *content = json_loads(PQgetvalue(res, r, 1), 0, NULL);
    int number = atoi(PQgetvalue(res, r, 0));
    if (number == diff_request->from) from = json_incref(content);
    if (number == diff_request->to) to = json_incref(content);
    json_decref(content);
  }
  if (!from || !to) {
    json_decref(from);
    json_decref(to);
    reply_problem(x, CC_NOT_FOUND, "This care plan has no version %d.",
                  from ? diff_request->to : diff_request->from);
    return CC_NOT_FOUND;
  }
  json_t *changes = json_diff_new(from, to);
  json_decref(from);
  json_decref(to);
  if (!changes) return CC_INTERNAL;
  *body = json_pack("{s:i, s:i, s:o}", "from", diff_request->from, "to", diff_request->to,
                    "changes", changes);
  return CC_OK;
}

void care_plans_diff(struct exchange *x) {
  const char *from_text = NULL, *to_text = NULL;
  if (query_text(x, "from", 16, &from_text) != CC_OK || query_text(x, "to", 16, &to_text) != CC_OK)
    return;
  int from, to;
  if (!version_number(x, from_text, "from", &from, CC_BAD_REQUEST) ||
      !version_number(x, to_text, "to", &to, CC_BAD_REQUEST))
    return;
  struct diff_request compared = {from, to};
  char from_param[16], to_param[16];
  snprintf(from_param, sizeof from_param, "%d", from);
  snprintf(to_param, sizeof to_param, "%d", to);
  read_history(x, RESOURCE, &TWO_VERSIONS, from_param, to_param, diff_body, &compared);
}

void care_plans_distributions(struct exchange *x) {
  read_history(x, "care_plan_distribution", &DISTRIBUTIONS, NULL, NULL, items_body, NULL);
}

/* R-CPL-4: an agency is named, a carer is one of the person's carers (carer_id, whose consent is
 * checked with the database); the person and their GP are known to the record. */
static void check_distribution(const json_t *body, struct field_errors *errors) {
  const char *type = json_string_value(json_object_get(body, "recipient_type"));
  bool carer = type && strcmp(type, "carer") == 0;
  if (type && strcmp(type, "agency") == 0 && !member_present(body, "recipient_name"))
    field_errors_add(errors, "/recipient_name", "R-CPL-4", "is required: name the agency");
  if (carer && !member_present(body, "carer_id"))
    field_errors_add(errors, "/carer_id", "R-CAR-1",
                     "is required: name the carer (one of the service user's carers), whose "
                     "consent decides whether the plan may go to them");
  if (!carer && member_present(body, "carer_id"))
    field_errors_add(errors, "/carer_id", NULL, "is given only when the recipient is a carer");
}

void care_plans_distribute(struct exchange *x) {
  const char *id = episode_child_id(x, NOT_FOUND);
  if (!id || !record_body_valid(x, DISTRIBUTION_FIELDS, VALIDATE_CREATE)) return;
  struct field_errors errors = {0};
  check_distribution(x->body, &errors);
  if (errors.count) {
    reply_validation(x, &errors);
    return;
  }
  struct tx tx;
  struct episode ep;
  struct episode_fetch fetch = {&PLAN_EXISTS, (const char *const[]){id, x->params[0]}, NULL};
  PGresult *res = NULL;
  char *params[8] = {0}, *carer_name = NULL;
  enum access_decision decision;
  enum idempotency_state idem = IDEMPOTENCY_NONE;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) goto failed;
  /* The episode is locked so that the plan's version cannot move under the record. */
  if (!episode_access_with(x, &tx, "care_plan_distribution", NULL, true, ACCESS_WRITE,
                           access_break_glass_requested(x), &ep, &decision, &fetch))
    goto done;
  if (PQntuples(fetch.result) == 0) {
    reply_problem(x, CC_NOT_FOUND, NOT_FOUND);
    goto done;
  }
  if (!ep.open) {
    reply_problem(x, CC_CONFLICT, "The episode is closed: its care plans are no longer sent out.");
    goto done;
  }
  if (strcmp(PQgetvalue(fetch.result, 0, 0), "active") != 0) {
    reply_problem(x, CC_CONFLICT,
                  "Only the episode's active care plan is sent out: this one is %s.",
                  PQgetvalue(fetch.result, 0, 0));
    goto done;
  }
  /* Claimed after the access step, whose refusal commits: a refused request leaves no key. */
  if (idempotency_begin(x, &tx, &idem) != CC_OK || idem == IDEMPOTENCY_REPLAYED) goto done;
  const char *carer_id = json_string_value(json_object_get(x->body, "carer_id"));
  if (carer_id) {
    status = carer_consent_check(&tx, ep.service_user_id, carer_id, "care_plan", "/carer_id",
                                 &errors, &carer_name);
    if (status != CC_OK) goto failed;
    if (errors.count) {
      reply_validation(x, &errors);
      goto done;
    }
  }
  params[0] = strdup(id);
  params[1] = strdup(PQgetvalue(fetch.result, 0, 1));
  params[2] = fields_param_new(json_object_get(x->body, "recipient_type"));
  params[3] = member_present(x->body, "recipient_name")
                  ? fields_param_new(json_object_get(x->body, "recipient_name"))
                  : carer_name ? strdup(carer_name) : NULL;
  params[4] = fields_param_new(json_object_get(x->body, "method"));
  params[5] = fields_param_new(json_object_get(x->body, "sent_on"));
  params[6] = strdup(x->principal.subject);
  params[7] = carer_id ? strdup(carer_id) : NULL;
  status = tx_exec(&tx, &DISTRIBUTE, (const char *const *)params, &res);
  if (status != CC_OK) goto failed;
  json_t *details = json_pack("{s:s, s:s, s:s}", "care_plan_id", id, "plan_version", params[1],
                              "recipient_type", params[2]);
  status = episode_audit(x, &tx, "create", "care_plan_distribution", PQgetvalue(res, 0, 0), &ep,
                      details);
  json_decref(details);
  if (status == CC_OK && idem == IDEMPOTENCY_CLAIMED)
    status = idempotency_store(x, &tx, 201, PQgetvalue(res, 0, 1), NULL, NULL);
  if (status == CC_OK) status = tx_commit(&tx);
  if (status != CC_OK) goto failed;
  reply_json_text(x, 201, PQgetvalue(res, 0, 1));
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  free(carer_name);
  for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) free(params[i]);
  PQclear(fetch.result);
  PQclear(res);
  tx_end(&tx);
}
