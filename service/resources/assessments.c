/* Assessments (DOMAIN.md care cycle step 4; R-ASM-1..7): the screening on acceptance, the
 * holistic assessment with its risk section, capacity, children and CPA decision, risk reviews,
 * Treatment Outcome Profiles and specialist assessments, each belonging to an episode.
 *
 * An assessment is written while in progress (merge patches with If-Match) and then completed:
 * completion checks that it holds what its type needs (rules/assessment_rules.h) and freezes it.
 * A completed assessment is never changed (409; a database trigger backs this up): a correction
 * is a new assessment that amends it. Completing a holistic assessment sets the episode's care
 * level from its CPA decision, with a line in the care level history.
 *
 * Access is the person's (auth/policy.h): reading one is reading the person's record (audited,
 * break-glass allowed); writing needs the relationship, and break-glass never writes. The audit
 * trail names the sections a change touched, never their clinical content. */
#include "resources/assessments.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/idempotency.h"
#include "resources/episodes.h"
#include "resources/record.h"
#include "resources/resources.h"
#include "rules/assessment_rules.h"
#include "rules/clocks.h"

#define RESOURCE "assessment"
#define NOT_FOUND "No assessment of this episode has this id."

static const char *const TYPES[] = {"initial", "holistic", "risk_review", "tops", "specialist",
                                    NULL};
static const char *const LEVELS[] = {"low", "medium", "high", NULL};
static const char *const CPA_GROUPS[] = {"none", "inpatient", "community_treatment_order",
                                         "prisoner_severe_mental_illness", NULL};
static const char *const CARE_LEVELS[] = {"cpa", "non_cpa", NULL};
static const char *const TOPS_STAGES[] = {"start", "review", "exit", NULL};

#define TEXT(NAME, FLAGS)                                                                        \
  {.name = NAME, .kind = FIELD_TEXT, .flags = FLAGS, .min_len = 1, .max_len = 10000}
#define NAME_TEXT(NAME, FLAGS)                                                                   \
  {.name = NAME, .kind = FIELD_STRING, .flags = FLAGS, .min_len = 1, .max_len = 200}

/* Seed 000 §4.4-4.5: each domain's needs, strengths and the person's own view. */
#define DOMAIN_MEMBERS                                                                           \
  TEXT("needs", FIELD_REQUIRED), TEXT("strengths", FIELD_NULLABLE),                              \
      TEXT("persons_view", FIELD_NULLABLE)
static const struct field_spec DOMAIN_FIELDS[] = {DOMAIN_MEMBERS, {0}};
static const struct field_spec MEDICATION_FIELDS[] = {
    DOMAIN_MEMBERS, TEXT("benefits", FIELD_NULLABLE), TEXT("side_effects", FIELD_NULLABLE), {0}};
static const struct field_spec SUBSTANCE_USE_FIELDS[] = {
    DOMAIN_MEMBERS, TEXT("current_use", FIELD_NULLABLE), TEXT("past_use", FIELD_NULLABLE), {0}};

#define DOMAIN(NAME, MEMBERS)                                                                    \
  {.name = NAME, .kind = FIELD_OBJECT, .flags = FIELD_NULLABLE, .members = MEMBERS}
static const struct field_spec DOMAINS_FIELDS[] = {
    DOMAIN("psychiatric", DOMAIN_FIELDS),
    DOMAIN("psychological", DOMAIN_FIELDS),
    DOMAIN("social_functioning", DOMAIN_FIELDS),
    DOMAIN("medication", MEDICATION_FIELDS),
    DOMAIN("physical_health", DOMAIN_FIELDS),
    DOMAIN("substance_use", SUBSTANCE_USE_FIELDS),
    DOMAIN("personal_circumstances_family", DOMAIN_FIELDS),
    DOMAIN("housing", DOMAIN_FIELDS),
    DOMAIN("finances", DOMAIN_FIELDS),
    DOMAIN("employment_education_training", DOMAIN_FIELDS),
    DOMAIN("equality_diversity", DOMAIN_FIELDS),
    DOMAIN("social_inclusion", DOMAIN_FIELDS),
    DOMAIN("goals_aspirations", DOMAIN_FIELDS),
    {0}};

static const struct field_spec RISK_ITEM_FIELDS[] = {
    {.name = "category", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = RISK_CATEGORIES},
    /* What an `other` risk is. */
    TEXT("description", FIELD_NULLABLE),
    {.name = "level", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = LEVELS},
    TEXT("evidence", FIELD_REQUIRED),
    /* Triggers and relapse signatures. */
    TEXT("triggers", FIELD_NULLABLE),
    TEXT("protective_factors", FIELD_NULLABLE),
    {0}};

static const struct field_spec RISK_FIELDS[] = {
    {.name = "items", .kind = FIELD_OBJECT_ARRAY, .flags = FIELD_REQUIRED, .min_len = 0,
     .max_len = 100, .members = RISK_ITEM_FIELDS},
    {.name = "overall_level", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = LEVELS},
    /* Seed 000 §4.9.8: a perceived risk of dangerousness goes to MARE, and if appropriate MAPPA. */
    {.name = "mare_mappa_referral_needed", .kind = FIELD_BOOL, .flags = FIELD_REQUIRED},
    TEXT("mare_mappa_notes", FIELD_NULLABLE),
    {0}};

/* Mental Capacity Act: capacity to consent to care and treatment (seed 000 §4.9.3). */
static const struct field_spec CAPACITY_FIELDS[] = {
    {.name = "has_capacity", .kind = FIELD_BOOL, .flags = FIELD_REQUIRED},
    TEXT("decision", FIELD_REQUIRED),
    {.name = "assessed_on", .kind = FIELD_DATE, .flags = FIELD_REQUIRED},
    NAME_TEXT("assessor", FIELD_REQUIRED),
    {0}};

/* R-ASM-5 (seed 000 §4.9.7): the basic information about each child. */
static const struct field_spec CHILD_FIELDS[] = {
    NAME_TEXT("name", FIELD_REQUIRED),
    {.name = "address", .kind = FIELD_TEXT, .flags = FIELD_REQUIRED, .min_len = 1,
     .max_len = 500},
    {.name = "age", .kind = FIELD_INTEGER, .flags = FIELD_REQUIRED, .min_len = 0, .max_len = 17},
    NAME_TEXT("primary_carer", FIELD_REQUIRED),
    NAME_TEXT("gp", FIELD_REQUIRED),
    NAME_TEXT("school", FIELD_NULLABLE),
    {0}};

static const struct field_spec SAFEGUARDING_REFERRAL_FIELDS[] = {
    {.name = "made_on", .kind = FIELD_DATE, .flags = FIELD_REQUIRED},
    TEXT("reason", FIELD_REQUIRED),
    {0}};

static const struct field_spec CHILDREN_FIELDS[] = {
    {.name = "has_contact_with_children", .kind = FIELD_BOOL, .flags = FIELD_REQUIRED},
    {.name = "children", .kind = FIELD_OBJECT_ARRAY, .flags = FIELD_REQUIRED, .min_len = 0,
     .max_len = 30, .members = CHILD_FIELDS},
    {.name = "safeguarding_referral", .kind = FIELD_OBJECT, .flags = FIELD_NULLABLE,
     .members = SAFEGUARDING_REFERRAL_FIELDS},
    {0}};

/* Seed 000 §2.3: the presenting characteristics of people on CPA. */
static const struct field_spec CPA_CRITERIA_FIELDS[] = {
    {.name = "severe_mental_disorder", .kind = FIELD_BOOL, .flags = FIELD_REQUIRED},
    {.name = "current_or_potential_risk", .kind = FIELD_BOOL, .flags = FIELD_REQUIRED},
    {.name = "multiple_service_provision", .kind = FIELD_BOOL, .flags = FIELD_REQUIRED},
    {.name = "detained_or_crisis_referral", .kind = FIELD_BOOL, .flags = FIELD_REQUIRED},
    {.name = "carer_reliance_or_caring_responsibilities", .kind = FIELD_BOOL,
     .flags = FIELD_REQUIRED},
    {0}};

static const struct field_spec CPA_DECISION_FIELDS[] = {
    {.name = "criteria", .kind = FIELD_OBJECT, .flags = FIELD_REQUIRED,
     .members = CPA_CRITERIA_FIELDS},
    {.name = "automatic_group", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED,
     .choices = CPA_GROUPS},
    {.name = "decision", .kind = FIELD_ENUM, .flags = FIELD_NULLABLE, .choices = CARE_LEVELS},
    TEXT("non_cpa_reason", FIELD_NULLABLE),
    {0}};

#define DAYS_IN_28(NAME)                                                                         \
  {.name = NAME, .kind = FIELD_INTEGER, .flags = FIELD_REQUIRED, .min_len = 0, .max_len = 28}
#define SCORE(NAME)                                                                              \
  {.name = NAME, .kind = FIELD_INTEGER, .flags = FIELD_REQUIRED, .min_len = 0, .max_len = 20}

static const struct field_spec TOPS_SUBSTANCE_FIELDS[] = {
    NAME_TEXT("substance", FIELD_REQUIRED), DAYS_IN_28("days_used"), {0}};

/* Treatment Outcome Profile (seed 004): use in the last 28 days, health, crime, housing. */
static const struct field_spec TOPS_FIELDS[] = {
    {.name = "stage", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = TOPS_STAGES},
    {.name = "substance_use", .kind = FIELD_OBJECT_ARRAY, .flags = FIELD_REQUIRED, .min_len = 0,
     .max_len = 20, .members = TOPS_SUBSTANCE_FIELDS},
    DAYS_IN_28("injecting_days"),
    SCORE("psychological_health"),
    SCORE("physical_health"),
    SCORE("quality_of_life"),
    {.name = "acute_housing_problem", .kind = FIELD_BOOL, .flags = FIELD_REQUIRED},
    {.name = "at_risk_of_eviction", .kind = FIELD_BOOL, .flags = FIELD_REQUIRED},
    DAYS_IN_28("shoplifting_days"),
    {.name = "assault_or_violence", .kind = FIELD_BOOL, .flags = FIELD_REQUIRED},
    {0}};

#define SECTION(NAME, MEMBERS)                                                                   \
  {.name = NAME, .kind = FIELD_OBJECT, .flags = FIELD_NULLABLE, .members = MEMBERS}

/* The stored assessment as create and merge-patch bodies see it. */
static const struct field_spec ASSESSMENT_FIELDS[] = {
    {.name = "id", .kind = FIELD_UUID, .flags = FIELD_READ_ONLY},
    {.name = "episode_id", .kind = FIELD_UUID, .flags = FIELD_READ_ONLY},
    {.name = "service_user_id", .kind = FIELD_UUID, .flags = FIELD_READ_ONLY},
    {.name = "type", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED | FIELD_IMMUTABLE,
     .choices = TYPES},
    {.name = "status", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {.name = "amends_assessment_id", .kind = FIELD_UUID,
     .flags = FIELD_NULLABLE | FIELD_IMMUTABLE},
    {.name = "amended_by_assessment_id", .kind = FIELD_UUID, .flags = FIELD_READ_ONLY},
    NAME_TEXT("specialism", FIELD_NULLABLE),
    TEXT("summary", FIELD_NULLABLE),
    SECTION("domains", DOMAINS_FIELDS),
    SECTION("risk", RISK_FIELDS),
    SECTION("capacity", CAPACITY_FIELDS),
    SECTION("children", CHILDREN_FIELDS),
    SECTION("cpa_decision", CPA_DECISION_FIELDS),
    SECTION("tops", TOPS_FIELDS),
    {.name = "created_at", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {.name = "created_by", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {.name = "updated_at", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {.name = "completed_at", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {.name = "completed_by", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {.name = "version", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {0}};

/* The writable columns, in table order: the statements' parameters $2.. follow it. */
static const char *const COLUMNS[] = {"specialism", "summary", "domains",      "risk",
                                      "capacity",   "children", "cpa_decision", "tops"};
#define COLUMN_COUNT (sizeof COLUMNS / sizeof COLUMNS[0])

#define ASSESSMENT_COLUMNS                                                                       \
  "a.id, a.version, json_build_object('id', a.id, 'episode_id', a.episode_id,"                  \
  " 'service_user_id', (SELECT e.service_user_id FROM episodes e WHERE e.id = a.episode_id),"    \
  " 'type', a.type, 'status', a.status, 'amends_assessment_id', a.amends_assessment_id,"         \
  " 'amended_by_assessment_id', (SELECT n.id FROM assessments n"                                 \
  "   WHERE n.amends_assessment_id = a.id),"                                                     \
  " 'specialism', a.specialism, 'summary', a.summary, 'domains', a.domains, 'risk', a.risk,"     \
  " 'capacity', a.capacity, 'children', a.children, 'cpa_decision', a.cpa_decision,"             \
  " 'tops', a.tops, 'created_at', a.created_at, 'created_by', a.created_by,"                     \
  " 'updated_at', a.updated_at, 'completed_at', a.completed_at,"                                 \
  " 'completed_by', a.completed_by, 'version', a.version)::text"

static const struct db_stmt INSERT = {
    "assessments_insert",
    "INSERT INTO assessments AS a (episode_id, type, amends_assessment_id, specialism, summary,"
    " domains, risk, capacity, children, cpa_decision, tops, created_by)"
    " VALUES ($1::uuid, $2, $3::uuid, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9::jsonb,"
    " $10::jsonb, $11::jsonb, $12) RETURNING " ASSESSMENT_COLUMNS,
    12};
static const struct db_stmt SELECT = {
    "assessments_select",
    "SELECT " ASSESSMENT_COLUMNS " FROM assessments a"
    " WHERE a.id = $1::uuid AND a.episode_id = $2::uuid",
    2};
/* The fourth column is the status. */
static const struct db_stmt LOCK = {
    "assessments_lock",
    "SELECT " ASSESSMENT_COLUMNS ", a.status FROM assessments a"
    " WHERE a.id = $1::uuid AND a.episode_id = $2::uuid FOR UPDATE",
    2};
static const struct db_stmt UPDATE = {
    "assessments_update",
    "UPDATE assessments AS a SET specialism = $2, summary = $3, domains = $4::jsonb,"
    " risk = $5::jsonb, capacity = $6::jsonb, children = $7::jsonb, cpa_decision = $8::jsonb,"
    " tops = $9::jsonb, updated_at = now(), version = a.version + 1"
    " WHERE a.id = $1::uuid AND a.status = 'in_progress' RETURNING " ASSESSMENT_COLUMNS,
    9};
static const struct db_stmt COMPLETE = {
    "assessments_complete",
    "UPDATE assessments AS a SET status = 'completed', completed_at = now(), completed_by = $2,"
    " updated_at = now(), version = a.version + 1"
    " WHERE a.id = $1::uuid AND a.status = 'in_progress' RETURNING " ASSESSMENT_COLUMNS,
    2};
/* The assessment an amendment names: its type and status, in this episode. */
static const struct db_stmt AMENDED = {
    "assessments_amended",
    "SELECT type, status, (SELECT n.id FROM assessments n WHERE n.amends_assessment_id = a.id)"
    " FROM assessments a WHERE a.id = $1::uuid AND a.episode_id = $2::uuid",
    2};
/* An episode's assessments, newest first. */
static const struct db_stmt LIST = {
    "assessments_list",
    "SELECT " ASSESSMENT_COLUMNS ", a.id::text FROM assessments a"
    " WHERE a.episode_id = $1::uuid"
    "   AND ($2::uuid IS NULL OR (a.created_at, a.id) <"
    "        (SELECT p.created_at, p.id FROM assessments p WHERE p.id = $2::uuid))"
    " ORDER BY a.created_at DESC, a.id DESC LIMIT $3",
    3};
/* The current risks of a person: for each open episode, the latest completed assessment with a
 * risk section that no completed amendment has replaced. */
static const struct db_stmt RISK_SUMMARY = {
    "assessments_risk_summary",
    "SELECT a.id, a.episode_id, a.type, to_json(a.completed_at) #>> '{}',"
    " floor(extract(epoch FROM a.completed_at))::bigint, a.risk::text"
    " FROM episodes e CROSS JOIN LATERAL (SELECT c.* FROM assessments c"
    "   WHERE c.episode_id = e.id AND c.status = 'completed' AND c.risk IS NOT NULL"
    "     AND NOT EXISTS (SELECT 1 FROM assessments n WHERE n.amends_assessment_id = c.id"
    "       AND n.status = 'completed')"
    "   ORDER BY c.completed_at DESC, c.id DESC LIMIT 1) a"
    " WHERE e.service_user_id = $1::uuid AND e.status = 'open'"
    " ORDER BY a.completed_at DESC, a.id",
    1};

static const struct constraint_problem CONSTRAINTS[] = {
    {"assessments_amends_key", CC_CONFLICT, NULL,
     "The assessment named in amends_assessment_id has already been amended: amend the latest "
     "amendment instead."},
    {0}};

static bool member_present(const json_t *record, const char *name) {
  const json_t *value = json_object_get(record, name);
  return value && !json_is_null(value);
}

/* Sections the type does not hold (rules/assessment_rules.h). */
static void check_sections_allowed(const json_t *record, enum assessment_type type,
                                   struct field_errors *errors) {
  for (int s = 0; s < SECTION_COUNT; s++) {
    const char *name = assessment_section_name((enum assessment_section)s);
    if (member_present(record, name) && !assessment_section_allowed(type, s)) {
      char ptr[64];
      snprintf(ptr, sizeof ptr, "/%s", name);
      field_errors_add(errors, ptr, s == SECTION_TOPS ? "R-ASM-7" : NULL,
                       "is not part of a%s %s assessment", type == ASSESSMENT_INITIAL ? "n" : "",
                       assessment_type_name(type));
    }
  }
}

static void check_risk(const json_t *risk, struct field_errors *errors) {
  const json_t *items = json_object_get(risk, "items");
  for (size_t i = 0; i < json_array_size(items); i++) {
    const json_t *item = json_array_get(items, i);
    const char *category = json_string_value(json_object_get(item, "category"));
    if (category && strcmp(category, "other") == 0 && !member_present(item, "description")) {
      char ptr[64];
      snprintf(ptr, sizeof ptr, "/risk/items/%zu/description", i);
      field_errors_add(errors, ptr, NULL, "is required for a risk of category other");
    }
  }
}

/* R-ASM-5. At completion, a person in contact with children has them recorded. */
static void check_children(const json_t *section, bool completing, struct field_errors *errors) {
  const json_t *children = json_object_get(section, "children");
  bool contact = json_is_true(json_object_get(section, "has_contact_with_children"));
  if (!contact && json_array_size(children) > 0)
    field_errors_add(errors, "/children/children", "R-ASM-5",
                     "must be empty when has_contact_with_children is false");
  if (contact && completing && json_array_size(children) == 0)
    field_errors_add(errors, "/children/children", "R-ASM-5",
                     "must record each child (name, address, age, primary carer, GP, school) "
                     "when the person lives with or has contact with children");
  for (size_t i = 0; i < json_array_size(children); i++) {
    const json_t *child = json_array_get(children, i);
    const json_t *age = json_object_get(child, "age");
    if (json_is_integer(age) && child_school_required((int)json_integer_value(age)) &&
        !member_present(child, "school")) {
      char ptr[64];
      snprintf(ptr, sizeof ptr, "/children/children/%zu/school", i);
      field_errors_add(errors, ptr, "R-ASM-5", "is required for a child of school age");
    }
  }
  const json_t *referral = json_object_get(section, "safeguarding_referral");
  if (!contact && member_present(section, "safeguarding_referral") && json_is_object(referral))
    field_errors_add(errors, "/children/safeguarding_referral", "R-ASM-5",
                     "is recorded for a person who lives with or has contact with children");
}

static bool any_criterion_met(const json_t *criteria) {
  const char *key;
  const json_t *value;
  json_object_foreach((json_t *)criteria, key, value) {
    if (json_is_true(value)) return true;
  }
  return false;
}

/* R-ASM-3 and R-ASM-4, whenever a decision is recorded. */
static void check_cpa_decision(const json_t *section, bool completing,
                               struct field_errors *errors) {
  const char *decision_name = json_string_value(json_object_get(section, "decision"));
  bool has_reason = member_present(section, "non_cpa_reason");
  if (!decision_name) {
    if (completing)
      field_errors_add(errors, "/cpa_decision/decision", NULL,
                       "is required to complete the holistic assessment: it sets the episode's "
                       "care level");
    return;
  }
  enum care_level decision;
  enum cpa_group group;
  if (!care_level_parse(decision_name, &decision) ||
      !cpa_group_parse(json_string_value(json_object_get(section, "automatic_group")), &group))
    return; /* refused by the field tables */
  if (decision == CARE_LEVEL_CPA && has_reason)
    field_errors_add(errors, "/cpa_decision/non_cpa_reason", "R-ASM-4",
                     "is recorded only with the decision non_cpa");
  switch (cpa_decision_check(group, any_criterion_met(json_object_get(section, "criteria")),
                             decision, has_reason)) {
  case CPA_DECISION_OK:
    return;
  case CPA_DECISION_GROUP_REQUIRES_CPA:
    field_errors_add(errors, "/cpa_decision/decision", "R-ASM-3",
                     "must be cpa: in-patients, people discharged on a Community Treatment "
                     "Order and prisoners with severe mental illness are always on CPA");
    return;
  case CPA_DECISION_REASON_REQUIRED:
    field_errors_add(errors, "/cpa_decision/non_cpa_reason", "R-ASM-4",
                     "is required: the CPA criteria are met but the decision is non_cpa");
    return;
  }
}

/* Completion: what the type must hold (R-ASM-2, R-ASM-5, R-ASM-6, R-ASM-7). */
static void check_complete(const json_t *record, enum assessment_type type,
                           struct field_errors *errors) {
  for (int s = 0; s < SECTION_COUNT; s++) {
    const char *name = assessment_section_name((enum assessment_section)s);
    if (!assessment_section_required(type, s) || member_present(record, name)) continue;
    char ptr[64];
    snprintf(ptr, sizeof ptr, "/%s", name);
    field_errors_add(errors, ptr, assessment_section_rule(type, s),
                     "is required to complete a%s %s assessment",
                     type == ASSESSMENT_INITIAL ? "n" : "", assessment_type_name(type));
  }
  const json_t *domains = json_object_get(record, "domains");
  if (type != ASSESSMENT_HOLISTIC || !json_is_object(domains)) return;
  for (const char *const *d = HOLISTIC_DOMAINS; *d; d++) {
    if (member_present(domains, *d)) continue;
    char ptr[64];
    snprintf(ptr, sizeof ptr, "/domains/%s", *d);
    field_errors_add(errors, ptr, NULL,
                     "is required to complete a holistic assessment (seed 000 §4.4)");
  }
}

/* The rules across members of a whole assessment (a create body, or the record after a merge
 * patch), and at completion what it must hold. */
static void check_assessment(const json_t *record, const struct episode *ep, bool completing,
                             struct field_errors *errors) {
  enum assessment_type type;
  if (!assessment_type_parse(json_string_value(json_object_get(record, "type")), &type)) return;
  check_sections_allowed(record, type, errors);
  if (type == ASSESSMENT_TOPS && !ep->substance_misuse)
    field_errors_add(errors, "/type", "R-ASM-7",
                     "a Treatment Outcome Profile is recorded on substance-misuse episodes only");
  if (errors->count) return;
  if (member_present(record, "risk")) check_risk(json_object_get(record, "risk"), errors);
  if (member_present(record, "children"))
    check_children(json_object_get(record, "children"), completing, errors);
  if (member_present(record, "cpa_decision"))
    check_cpa_decision(json_object_get(record, "cpa_decision"), completing, errors);
  if (completing) check_complete(record, type, errors);
}

/* amends_assessment_id names a completed assessment of this episode and type, not yet amended
 * (a 422 for errors to report). Returns false after replying 409 or a failure. */
static bool check_amends(struct exchange *x, struct tx *tx, const struct episode *ep,
                         const json_t *body, struct field_errors *errors) {
  const char *amends = json_string_value(json_object_get(body, "amends_assessment_id"));
  const char *type = json_string_value(json_object_get(body, "type"));
  if (!amends || !type) return true;
  PGresult *res = NULL;
  enum cc_status status = tx_exec(tx, &AMENDED, (const char *const[]){amends, ep->id}, &res);
  bool ok = status == CC_OK;
  const char *ptr = "/amends_assessment_id";
  if (!ok) {
    reply_problem(x, status, NULL);
  } else if (PQntuples(res) == 0) {
    field_errors_add(errors, ptr, NULL, "must name an assessment of this episode");
  } else if (strcmp(PQgetvalue(res, 0, 1), "completed") != 0) {
    field_errors_add(errors, ptr, NULL,
                     "must name a completed assessment: one in progress is corrected by "
                     "changing it");
  } else if (strcmp(PQgetvalue(res, 0, 0), type) != 0) {
    field_errors_add(errors, ptr, NULL, "must name a %s assessment: an amendment keeps its type",
                     type);
  } else if (!PQgetisnull(res, 0, 2)) {
    reply_problem(x, CC_CONFLICT,
                  "Assessment %s has already been amended by %s: amend that one instead.", amends,
                  PQgetvalue(res, 0, 2));
    ok = false;
  }
  PQclear(res);
  return ok;
}

/* The writable columns of record as statement parameters, from params[first]. */
static void column_params(const json_t *record, char **params, size_t first) {
  for (size_t i = 0; i < COLUMN_COUNT; i++)
    params[first + i] = fields_param_new(json_object_get(record, COLUMNS[i]));
}

void assessments_create(struct exchange *x) {
  if (!record_body_valid(x, ASSESSMENT_FIELDS, VALIDATE_CREATE)) return;
  struct tx tx;
  struct episode ep;
  char *params[12] = {0};
  json_t *details = NULL;
  enum idempotency_state idem = IDEMPOTENCY_NONE;
  if (!episode_child_begin_create(x, &tx, RESOURCE, &ep,
                                  "The episode is closed: assessments belong to open episodes.",
                                  &idem))
    goto done;
  struct field_errors errors = {0};
  check_assessment(x->body, &ep, false, &errors);
  if (!errors.count && !check_amends(x, &tx, &ep, x->body, &errors)) goto done;
  if (errors.count) {
    reply_validation(x, &errors);
    goto done;
  }
  params[0] = strdup(ep.id);
  params[1] = fields_param_new(json_object_get(x->body, "type"));
  params[2] = fields_param_new(json_object_get(x->body, "amends_assessment_id"));
  column_params(x->body, params, 3);
  params[11] = strdup(x->principal.subject);
  details = json_pack("{s:s, s:s?}", "type", params[1], "amends_assessment_id", params[2]);
  episode_child_insert(x, &tx, &ep, &INSERT, (const char *const *)params, CONSTRAINTS, RESOURCE,
                       "assessments", details, idem);
done:
  for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) free(params[i]);
  json_decref(details);
  tx_end(&tx);
}

void assessments_get(struct exchange *x) { episode_child_get(x, RESOURCE, &SELECT, NOT_FOUND); }

void assessments_list(struct exchange *x) { episode_child_list(x, RESOURCE, &LIST); }

static const struct child_lock LOCK_IN_PROGRESS = {
    &LOCK, "assessment", NOT_FOUND, "completed",
    "This assessment is completed and cannot change: record a correction as a new assessment "
    "that names it in amends_assessment_id.", RESOURCE};

void assessments_update(struct exchange *x) {
  const char *id = episode_child_id(x, NOT_FOUND);
  if (!id) return;
  long expected = 0;
  if (exchange_if_match(x, &expected) != CC_OK) return;
  if (!record_body_valid(x, ASSESSMENT_FIELDS, VALIDATE_PATCH)) return;
  struct tx tx;
  struct episode ep;
  PGresult *res = NULL;
  json_t *current = NULL, *merged = NULL;
  char *params[1 + COLUMN_COUNT] = {0};
  if (!episode_child_begin_change(x, &tx, false, &LOCK_IN_PROGRESS, id, expected,
                                  "The episode is closed: its assessments can no longer change.",
                                  &ep, &res, &current))
    goto done;
  merged = fields_merge_patch_new(current, x->body);
  struct field_errors errors = {0};
  fields_validate_merged(merged, ASSESSMENT_FIELDS, &errors);
  if (!errors.count) check_assessment(merged, &ep, false, &errors);
  if (errors.count) {
    reply_validation(x, &errors);
    goto done;
  }
  params[0] = strdup(id);
  column_params(merged, params, 1);
  episode_child_update(x, &tx, &ep, &UPDATE, (const char *const *)params, NULL, RESOURCE, id,
                       ASSESSMENT_FIELDS, current, merged);
done:
  for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) free(params[i]);
  json_decref(merged);
  json_decref(current);
  PQclear(res);
  tx_end(&tx);
}

/* A completed holistic assessment's CPA decision becomes the episode's care level (R-ASM-3,
 * R-ASM-4 decided it). */
static enum cc_status set_care_level(struct exchange *x, struct tx *tx, const struct episode *ep,
                                     const char *assessment_id, const json_t *record) {
  const char *name =
      json_string_value(json_object_get(json_object_get(record, "cpa_decision"), "decision"));
  enum care_level level;
  if (!care_level_parse(name, &level)) return CC_INTERNAL; /* completion requires it */
  char reason[160];
  snprintf(reason, sizeof reason, "CPA decision of holistic assessment %s.", assessment_id);
  return episode_set_care_level(x, tx, ep, level, reason, "assessment_id", assessment_id);
}

void assessments_complete(struct exchange *x) {
  const char *id = episode_child_id(x, NOT_FOUND);
  if (!id) return;
  long expected = 0;
  if (exchange_if_match(x, &expected) != CC_OK) return;
  struct tx tx;
  struct episode ep;
  PGresult *res = NULL, *completed = NULL;
  json_t *current = NULL, *details = NULL;
  enum cc_status status = CC_OK;
  /* The episode is locked: a holistic completion sets its care level. */
  if (!episode_child_begin_change(x, &tx, true, &LOCK_IN_PROGRESS, id, expected,
                                  "The episode is closed: its assessments can no longer change.",
                                  &ep, &res, &current))
    goto done;
  struct field_errors errors = {0};
  check_assessment(current, &ep, true, &errors);
  if (errors.count) {
    reply_validation(x, &errors);
    goto done;
  }
  status = tx_exec(&tx, &COMPLETE, (const char *const[]){id, x->principal.subject}, &completed);
  if (status == CC_OK && PQntuples(completed) != 1) status = CC_INTERNAL;
  if (status != CC_OK) goto failed;
  details = json_pack("{s:[{s:s, s:s, s:s}]}", "changes", "field", "status", "old",
                      "in_progress", "new", "completed");
  status = episode_audit(x, &tx, "update", RESOURCE, id, &ep, details);
  const char *type = json_string_value(json_object_get(current, "type"));
  if (status == CC_OK && type && strcmp(type, "holistic") == 0)
    status = set_care_level(x, &tx, &ep, id, current);
  record_commit_reply(x, &tx, status, completed);
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

static int level_rank(const char *level) {
  for (int i = 0; LEVELS[i]; i++)
    if (level && strcmp(LEVELS[i], level) == 0) return i;
  return -1;
}

/* The summary of the rows of RISK_SUMMARY: every item with where it came from, the highest
 * overall level, and whether any assessment calls for a MARE / MAPPA referral. */
static json_t *risk_summary_new(const char *person, PGresult *res) {
  json_t *items = json_array(), *assessments = json_array();
  int highest = -1;
  bool mare_mappa = false;
  for (int r = 0; r < PQntuples(res); r++) {
    json_t *risk = json_loads(PQgetvalue(res, r, 5), 0, NULL);
    if (!risk) {
      json_decref(items);
      json_decref(assessments);
      return NULL;
    }
    char assessed_on[11];
    uk_local_date((time_t)atoll(PQgetvalue(res, r, 4)), assessed_on);
    const char *overall = json_string_value(json_object_get(risk, "overall_level"));
    if (level_rank(overall) > highest) highest = level_rank(overall);
    mare_mappa = mare_mappa || json_is_true(json_object_get(risk, "mare_mappa_referral_needed"));
    json_array_append_new(
        assessments,
        json_pack("{s:s, s:s, s:s, s:s, s:s?}", "id", PQgetvalue(res, r, 0), "episode_id",
                  PQgetvalue(res, r, 1), "type", PQgetvalue(res, r, 2), "completed_at",
                  PQgetvalue(res, r, 3), "overall_level", overall));
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(risk, "items"), i, item) {
      json_t *copy = json_deep_copy(item);
      json_object_set_new(copy, "assessment_id", json_string(PQgetvalue(res, r, 0)));
      json_object_set_new(copy, "episode_id", json_string(PQgetvalue(res, r, 1)));
      json_object_set_new(copy, "assessed_on", json_string(assessed_on));
      json_array_append_new(items, copy);
    }
    json_decref(risk);
  }
  return json_pack("{s:s, s:s?, s:b, s:o, s:o}", "service_user_id", person, "overall_level",
                   highest >= 0 ? LEVELS[highest] : NULL, "mare_mappa_referral_needed",
                   mare_mappa, "assessments", assessments, "items", items);
}

enum cc_status risk_summary_of(struct tx *tx, const char *person, json_t **summary) {
  *summary = NULL;
  PGresult *res = NULL;
  enum cc_status status = tx_exec(tx, &RISK_SUMMARY, (const char *const[]){person}, &res);
  if (status == CC_OK && !(*summary = risk_summary_new(person, res))) status = CC_INTERNAL;
  PQclear(res);
  return status;
}

void service_users_risk_summary(struct exchange *x) {
  const char *person = x->params[0], *reason = NULL;
  if (!text_is_uuid(person)) {
    reply_problem(x, CC_NOT_FOUND, "No service_user has this id.");
    return;
  }
  if (!access_break_glass_reason(x, &reason)) return;
  struct tx tx;
  struct access_target target = {"risk_summary", person, person};
  enum access_decision decision = ACCESS_ALLOW;
  json_t *summary = NULL;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) goto failed;
  if (!access_person(x, &tx, &target, ACCESS_READ, reason != NULL, &decision)) goto done;
  status = risk_summary_of(&tx, person, &summary);
  if (status == CC_OK) status = access_audit_read(x, &tx, &target, decision, reason);
  if (status == CC_OK) status = tx_commit(&tx);
  if (status != CC_OK) goto failed;
  reply_json(x, 200, summary);
  summary = NULL;
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  json_decref(summary);
  tx_end(&tx);
}
