/* Carers (DOMAIN.md care cycle step 7; R-CAR-1, R-CAR-2): the people who care for the person,
 * whether each is a young carer, the person's consent to share information with them, the
 * information they were given about their rights and the service, their own assessment (offered,
 * accepted or declined, referred to Adult Social Care, completed) and the yearly review of their
 * needs, with its due date.
 *
 * A carer belongs to the person, not to an episode: access is the person's (auth/policy.h), as
 * for the person's record itself. Reads are audited reads of the record (break-glass allowed);
 * changes need the relationship. The audit trail names the members a change touched, never the
 * carer's details.
 *
 * Consent (R-CAR-1) is what other resources ask before sharing with a carer: carer_consent_check
 * (resources/carers.h) refuses a care plan sent, or a review invitation made, to a carer whose
 * consent does not cover it. */
#include "resources/carers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/cursor.h"
#include "http/idempotency.h"
#include "resources/person_page.h"
#include "resources/record.h"
#include "resources/resources.h"
#include "rules/carer_rules.h"
#include "rules/clocks.h"

#define RESOURCE "carer"
#define NOT_FOUND "No carer of this service user has this id."

#define TEXT(NAME, FLAGS, MAX)                                                                   \
  {.name = NAME, .kind = FIELD_TEXT, .flags = FLAGS, .min_len = 1, .max_len = MAX}
#define DATE(NAME, FLAGS) {.name = NAME, .kind = FIELD_DATE, .flags = FLAGS}
#define READ_ONLY(NAME) {.name = NAME, .kind = FIELD_STRING, .flags = FIELD_READ_ONLY}

static const struct field_spec CONTACT_FIELDS[] = {
    {.name = "phone", .kind = FIELD_STRING, .flags = FIELD_NULLABLE, .min_len = 3, .max_len = 30},
    {.name = "email", .kind = FIELD_STRING, .flags = FIELD_NULLABLE, .min_len = 3,
     .max_len = 254},
    TEXT("address", FIELD_NULLABLE, 500),
    {0}};

/* R-CAR-1: the person's answer, when it was given, and what it covers. */
static const struct field_spec CONSENT_FIELDS[] = {
    {.name = "given", .kind = FIELD_BOOL, .flags = FIELD_REQUIRED},
    DATE("recorded_on", FIELD_REQUIRED),
    {.name = "scope", .kind = FIELD_STRING_ARRAY, .flags = FIELD_REQUIRED, .min_len = 0,
     .max_len = 4, .check = consent_scope_known,
     .check_reason = "must be one of: care_plan, reviews, crisis_plan, general"},
    {0}};

static const char *const RESPONSES[] = {"accepted", "declined", NULL};

/* R-CAR-2: the carer's own assessment. */
static const struct field_spec ASSESSMENT_FIELDS[] = {
    DATE("offered_on", FIELD_NULLABLE),
    {.name = "response", .kind = FIELD_ENUM, .flags = FIELD_NULLABLE, .choices = RESPONSES},
    DATE("referred_to_adult_social_care_on", FIELD_NULLABLE),
    DATE("completed_on", FIELD_NULLABLE),
    TEXT("outcome", FIELD_NULLABLE, 2000),
    {0}};

/* The carer as create and merge-patch bodies see it. */
static const struct field_spec CARER_FIELDS[] = {
    READ_ONLY("id"),
    READ_ONLY("service_user_id"),
    {.name = "name", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 1, .max_len = 200},
    {.name = "relationship", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 1,
     .max_len = 100},
    {.name = "contact", .kind = FIELD_OBJECT, .flags = FIELD_REQUIRED, .members = CONTACT_FIELDS},
    DATE("date_of_birth", FIELD_NULLABLE),
    {.name = "under_18", .kind = FIELD_BOOL, .flags = FIELD_NULLABLE},
    READ_ONLY("young_carer"),
    {.name = "lives_with_person", .kind = FIELD_BOOL, .flags = FIELD_REQUIRED},
    {.name = "consent", .kind = FIELD_OBJECT, .flags = FIELD_NULLABLE, .members = CONSENT_FIELDS},
    DATE("information_given_on", FIELD_NULLABLE),
    {.name = "assessment", .kind = FIELD_OBJECT, .members = ASSESSMENT_FIELDS},
    READ_ONLY("assessment_offer_outstanding"),
    DATE("needs_reviewed_on", FIELD_NULLABLE),
    DATE("identified_on", 0), /* today when not given */
    READ_ONLY("needs_review"),
    READ_ONLY("created_at"),
    READ_ONLY("created_by"),
    READ_ONLY("updated_at"),
    READ_ONLY("version"),
    {0}};

/* id, version, representation (the clock and the young-carer flag are added in C by the rules),
 * the id again (a list's cursor), then what the rules compute from: date of birth, under-18
 * flag, identified, assessment completed and needs reviewed, as YYYY-MM-DD. */
#define CARER_COLUMNS                                                                            \
  "c.id, c.version, json_build_object('id', c.id, 'service_user_id', c.service_user_id,"        \
  " 'name', c.name, 'relationship', c.relationship, 'contact', c.contact,"                       \
  " 'date_of_birth', c.date_of_birth, 'under_18', c.under_18,"                                   \
  " 'lives_with_person', c.lives_with_person, 'consent', c.consent,"                             \
  " 'information_given_on', c.information_given_on, 'assessment', c.assessment,"                 \
  " 'assessment_offer_outstanding', c.assessment->>'offered_on' IS NULL,"                        \
  " 'needs_reviewed_on', c.needs_reviewed_on, 'identified_on', c.identified_on,"                 \
  " 'created_at', c.created_at, 'created_by', c.created_by, 'updated_at', c.updated_at,"         \
  " 'version', c.version)::text, c.id::text,"                                                     \
  " to_char(c.date_of_birth, 'YYYY-MM-DD'), c.under_18, to_char(c.identified_on, 'YYYY-MM-DD'),"\
  " c.assessment->>'completed_on', to_char(c.needs_reviewed_on, 'YYYY-MM-DD')"

enum { DOB_COLUMN = 4, UNDER_18_COLUMN, IDENTIFIED_COLUMN, ASSESSED_COLUMN, REVIEWED_COLUMN };

static const struct db_stmt INSERT = {
    "carers_insert",
    "INSERT INTO carers AS c (service_user_id, name, relationship, contact, date_of_birth,"
    " under_18, lives_with_person, consent, information_given_on, assessment, needs_reviewed_on,"
    " identified_on, created_by)"
    " VALUES ($1::uuid, $2, $3, $4::jsonb, $5::date, $6::boolean, $7::boolean, $8::jsonb,"
    " $9::date, COALESCE($10::jsonb, '{}'), $11::date, COALESCE($12::date, current_date), $13)"
    " RETURNING " CARER_COLUMNS,
    13};
static const struct db_stmt SELECT = {
    "carers_select",
    "SELECT " CARER_COLUMNS " FROM carers c WHERE c.id = $1::uuid AND c.service_user_id = $2::uuid",
    2};
static const struct db_stmt LOCK = {
    "carers_lock",
    "SELECT " CARER_COLUMNS " FROM carers c WHERE c.id = $1::uuid AND c.service_user_id = $2::uuid"
    " FOR UPDATE",
    2};
static const struct db_stmt UPDATE = {
    "carers_update",
    "UPDATE carers AS c SET name = $2, relationship = $3, contact = $4::jsonb,"
    " date_of_birth = $5::date, under_18 = $6::boolean, lives_with_person = $7::boolean,"
    " consent = $8::jsonb, information_given_on = $9::date, assessment = $10::jsonb,"
    " needs_reviewed_on = $11::date, identified_on = $12::date, updated_at = now(),"
    " version = c.version + 1 WHERE c.id = $1::uuid RETURNING " CARER_COLUMNS,
    12};
/* A person's carers, in the order they were recorded; the cursor is the last row's id. */
static const struct db_stmt LIST = {
    "carers_list",
    "SELECT " CARER_COLUMNS " FROM carers c WHERE c.service_user_id = $1::uuid"
    "   AND ($2::uuid IS NULL OR (c.created_at, c.id) >"
    "        (SELECT p.created_at, p.id FROM carers p WHERE p.id = $2::uuid))"
    " ORDER BY c.created_at, c.id LIMIT $3",
    3};
static const struct db_stmt CONSENT = {
    "carers_consent",
    "SELECT c.name, c.consent::text FROM carers c"
    " WHERE c.id = $1::uuid AND c.service_user_id = $2::uuid",
    2};

/* The writable columns, in the order of INSERT's $2.. and UPDATE's $2.. */
static const char *const COLUMNS[] = {
    "name",    "relationship",         "contact",    "date_of_birth",     "under_18",
    "lives_with_person", "consent", "information_given_on", "assessment", "needs_reviewed_on",
    "identified_on"};
#define COLUMN_COUNT (sizeof COLUMNS / sizeof COLUMNS[0])

static bool member_present(const json_t *object, const char *name) {
  const json_t *value = json_object_get(object, name);
  return value && !json_is_null(value);
}

static const char *text_of(const json_t *object, const char *name) {
  return json_string_value(json_object_get(object, name));
}

/* Dates that cannot be in the future, and must not come before the one they follow. */
static void check_not_after(const char *pointer, const char *date, const char *limit,
                            const char *reason, struct field_errors *errors) {
  if (date && limit && strcmp(date, limit) > 0) field_errors_add(errors, pointer, NULL, "%s", reason);
}

static void check_not_before(const char *pointer, const char *date, const char *earliest,
                             const char *rule, const char *reason, struct field_errors *errors) {
  if (date && earliest && strcmp(date, earliest) < 0)
    field_errors_add(errors, pointer, rule, "%s", reason);
}

/* The rules across a carer's members (a create body, or the record after a merge patch). */
static void check_carer(const json_t *record, const char *today, struct field_errors *errors) {
  /* R-CAR-1: whether the carer is under 18 is always known, one way or the other. */
  if (!member_present(record, "date_of_birth") && !member_present(record, "under_18"))
    field_errors_add(errors, "/under_18", "R-CAR-1",
                     "is required when the date of birth is not known: say whether the carer is "
                     "under 18");
  const char *born = text_of(record, "date_of_birth");
  const json_t *flag = json_object_get(record, "under_18");
  if (born && json_is_boolean(flag) &&
      carer_is_young(born, -1, today) != json_is_true(flag))
    field_errors_add(errors, "/under_18", "R-CAR-1",
                     "contradicts the date of birth: leave it out when the date of birth is known");
  check_not_after("/date_of_birth", born, today, "must not be in the future", errors);

  const json_t *contact = json_object_get(record, "contact");
  if (json_is_object(contact) && !member_present(contact, "phone") &&
      !member_present(contact, "email") && !member_present(contact, "address"))
    field_errors_add(errors, "/contact", "R-CAR-1",
                     "must give at least one way to reach the carer: phone, email or address");

  const json_t *consent = json_object_get(record, "consent");
  if (json_is_object(consent)) {
    bool given = json_is_true(json_object_get(consent, "given"));
    size_t scopes = json_array_size(json_object_get(consent, "scope"));
    if (given && scopes == 0)
      field_errors_add(errors, "/consent/scope", "R-CAR-1",
                       "must say what the consent covers when consent is given");
    if (!given && scopes > 0)
      field_errors_add(errors, "/consent/scope", "R-CAR-1",
                       "must be empty when consent is refused");
    check_not_after("/consent/recorded_on", text_of(consent, "recorded_on"), today,
                    "must not be in the future", errors);
  }
  check_not_after("/information_given_on", text_of(record, "information_given_on"), today,
                  "must not be in the future", errors);
  check_not_after("/needs_reviewed_on", text_of(record, "needs_reviewed_on"), today,
                  "must not be in the future", errors);

  /* R-CAR-2: an assessment is offered, then answered; only an accepted one is referred on or
   * completed; the dates follow each other. */
  const json_t *a = json_object_get(record, "assessment");
  const char *offered = text_of(a, "offered_on"), *response = text_of(a, "response");
  const char *referred = text_of(a, "referred_to_adult_social_care_on");
  const char *completed = text_of(a, "completed_on");
  bool accepted = response && strcmp(response, "accepted") == 0;
  if (response && !offered)
    field_errors_add(errors, "/assessment/offered_on", "R-CAR-2",
                     "is required once the carer has answered the offer");
  if ((referred || completed) && !accepted)
    field_errors_add(errors, "/assessment/response", "R-CAR-2",
                     "must be accepted before the assessment is referred on or completed");
  if (member_present(a, "outcome") && !completed)
    field_errors_add(errors, "/assessment/completed_on", "R-CAR-2",
                     "is required with the outcome");
  if (completed && !member_present(a, "outcome"))
    field_errors_add(errors, "/assessment/outcome", "R-CAR-2",
                     "is required once the assessment is completed");
  check_not_after("/assessment/offered_on", offered, today, "must not be in the future", errors);
  check_not_after("/assessment/completed_on", completed, today, "must not be in the future",
                  errors);
  check_not_before("/assessment/referred_to_adult_social_care_on", referred, offered, "R-CAR-2",
                   "must not be before the offer", errors);
  check_not_before("/assessment/completed_on", completed, offered, "R-CAR-2",
                   "must not be before the offer", errors);
}

/* young_carer and needs_review, computed by the rules (rules/carer_rules.h). */
static enum cc_status add_rules(struct exchange *x, PGresult *res, int row, json_t *carer) {
  char today[11];
  uk_local_date(time(NULL), today);
  const char *born = PQgetisnull(res, row, DOB_COLUMN) ? NULL : PQgetvalue(res, row, DOB_COLUMN);
  int flag = PQgetisnull(res, row, UNDER_18_COLUMN)
                 ? -1
                 : strcmp(PQgetvalue(res, row, UNDER_18_COLUMN), "t") == 0;
  json_object_set_new(carer, "young_carer", json_boolean(carer_is_young(born, flag, today)));
  const char *dates[3];
  for (int i = 0; i < 3; i++)
    dates[i] = PQgetisnull(res, row, IDENTIFIED_COLUMN + i)
                   ? NULL
                   : PQgetvalue(res, row, IDENTIFIED_COLUMN + i);
  struct clock_state clock;
  bool valid = carer_needs_review_clock(dates[0], dates[1], dates[2],
                                        x->app->config->policy.carer_review_months, today, &clock);
  json_object_set_new(carer, "needs_review",
                      json_pack("{s:s?, s:b, s:s?, s:s}", "due", clock.has_due ? clock.due : NULL,
                                "overdue", clock.overdue, "completed",
                                clock.has_completed ? clock.completed : NULL, "rule", "R-CAR-2"));
  return valid ? CC_OK : CC_INTERNAL;
}

/* The reply of one carer: its representation with the rules applied, and its ETag. */
static void reply_carer(struct exchange *x, int http_status, PGresult *res) {
  json_t *carer = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
  if (!carer || add_rules(x, res, 0, carer) != CC_OK) {
    json_decref(carer);
    reply_problem(x, CC_INTERNAL, NULL);
    return;
  }
  reply_etag(x, PQgetvalue(res, 0, 1));
  reply_json(x, http_status, carer);
}

static enum cc_status audit_carer(struct exchange *x, struct tx *tx, const char *action,
                                  const char *id, const char *person, const json_t *details) {
  struct audit_event event = {.action = action, .resource_type = RESOURCE, .resource_id = id,
                              .service_user_id = person, .outcome = "success",
                              .details = details};
  return audit_append(tx, &x->actor, &event);
}

/* The body against the field table and, for a new carer, the rules across members (a patch is
 * checked whole once merged). Replies 422 and returns false otherwise. */
static bool validate(struct exchange *x, enum validate_mode mode) {
  struct field_errors errors = {0};
  fields_validate(x->body, CARER_FIELDS, mode, "", &errors);
  if (!errors.count && mode == VALIDATE_CREATE) {
    char today[11];
    uk_local_date(time(NULL), today);
    check_carer(x->body, today, &errors);
  }
  if (!errors.count) return true;
  reply_validation(x, &errors);
  return false;
}

/* The person named by the path, or NULL after replying 404. */
static const char *person_or_404(struct exchange *x) {
  if (text_is_uuid(x->params[0])) return x->params[0];
  reply_problem(x, CC_NOT_FOUND, "No service_user has this id.");
  return NULL;
}

static const char *carer_id_or_404(struct exchange *x) {
  const char *id = x->param_count > 1 ? x->params[1] : NULL;
  if (id && text_is_uuid(id)) return id;
  reply_problem(x, CC_NOT_FOUND, NOT_FOUND);
  return NULL;
}

void carers_create(struct exchange *x) {
  const char *person = person_or_404(x);
  if (!person || !validate(x, VALIDATE_CREATE)) return;
  struct tx tx;
  struct access_target target = {RESOURCE, NULL, person};
  PGresult *res = NULL;
  char *params[2 + COLUMN_COUNT] = {0};
  json_t *created = NULL;
  enum access_decision decision;
  enum idempotency_state idem = IDEMPOTENCY_NONE;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) goto failed;
  if (!access_person(x, &tx, &target, ACCESS_WRITE, access_break_glass_requested(x), &decision))
    goto done;
  if (idempotency_begin(x, &tx, &idem) != CC_OK || idem == IDEMPOTENCY_REPLAYED) goto done;
  params[0] = strdup(person);
  for (size_t i = 0; i < COLUMN_COUNT; i++)
    params[1 + i] = fields_param_new(json_object_get(x->body, COLUMNS[i]));
  params[1 + COLUMN_COUNT] = strdup(x->principal.subject);
  status = tx_exec(&tx, &INSERT, (const char *const *)params, &res);
  if (status != CC_OK) goto failed;
  const char *id = PQgetvalue(res, 0, 0);
  status = audit_carer(x, &tx, "create", id, person, NULL);
  created = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
  if (status == CC_OK && (!created || add_rules(x, res, 0, created) != CC_OK))
    status = CC_INTERNAL;
  char location[160], etag[40];
  snprintf(location, sizeof location, "/service-users/%s/carers/%s", person, id);
  snprintf(etag, sizeof etag, "\"%s\"", PQgetvalue(res, 0, 1));
  char *text = status == CC_OK ? json_dumps(created, JSON_COMPACT) : NULL;
  if (status == CC_OK && !text) status = CC_INTERNAL;
  if (status == CC_OK && idem == IDEMPOTENCY_CLAIMED)
    status = idempotency_store(x, &tx, 201, text, location, etag);
  if (status == CC_OK) status = tx_commit(&tx);
  if (status == CC_OK) {
    reply_header(x, "Location", location);
    reply_header(x, "ETag", etag);
    reply_json_text(x, 201, text);
  }
  free(text);
  if (status != CC_OK) goto failed;
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) free(params[i]);
  json_decref(created);
  PQclear(res);
  tx_end(&tx);
}

void carers_get(struct exchange *x) {
  const char *person = person_or_404(x), *reason = NULL;
  if (!person) return;
  const char *id = carer_id_or_404(x);
  if (!id || !access_break_glass_reason(x, &reason)) return;
  struct tx tx;
  struct access_target target = {RESOURCE, id, person};
  PGresult *res = NULL;
  enum access_decision decision;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) goto failed;
  if (!access_person(x, &tx, &target, ACCESS_READ, reason != NULL, &decision)) goto done;
  status = tx_exec(&tx, &SELECT, (const char *const[]){id, person}, &res);
  if (status != CC_OK) goto failed;
  if (PQntuples(res) == 0) {
    reply_problem(x, CC_NOT_FOUND, NOT_FOUND);
    goto done;
  }
  status = access_audit_read(x, &tx, &target, decision, reason);
  if (status == CC_OK) status = tx_commit(&tx);
  if (status != CC_OK) goto failed;
  reply_carer(x, 200, res);
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  PQclear(res);
  tx_end(&tx);
}

void carers_list(struct exchange *x) {
  const char *person = person_or_404(x);
  if (!person) return;
  int limit;
  const char *reason = NULL;
  char *after[1];
  if (!person_page_query(x, &limit, &reason, after)) return;
  struct tx tx;
  struct access_target target = {RESOURCE, NULL, person};
  enum access_decision decision = ACCESS_ALLOW;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
  } else if (access_person(x, &tx, &target, ACCESS_READ, reason != NULL, &decision)) {
    const char *params[] = {person, after[0], NULL};
    person_page_reply(x, &tx, &target, decision, reason, &LIST, params, limit, add_rules);
  }
  tx_end(&tx);
  cursor_parts_free(after, 1);
}

void carers_update(struct exchange *x) {
  const char *person = person_or_404(x);
  if (!person) return;
  const char *id = carer_id_or_404(x);
  long expected = 0;
  if (!id || exchange_if_match(x, &expected) != CC_OK ||
      !validate(x, VALIDATE_PATCH))
    return;
  struct tx tx;
  struct access_target target = {RESOURCE, id, person};
  PGresult *res = NULL, *updated = NULL;
  json_t *current = NULL, *merged = NULL, *changes = NULL, *details = NULL;
  char *params[1 + COLUMN_COUNT] = {0};
  enum access_decision decision;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) goto failed;
  if (!access_person(x, &tx, &target, ACCESS_WRITE, access_break_glass_requested(x), &decision))
    goto done;
  status = tx_exec(&tx, &LOCK, (const char *const[]){id, person}, &res);
  if (status != CC_OK) goto failed;
  if (PQntuples(res) == 0) {
    reply_problem(x, CC_NOT_FOUND, NOT_FOUND);
    goto done;
  }
  if (atol(PQgetvalue(res, 0, 1)) != expected) {
    reply_etag(x, PQgetvalue(res, 0, 1));
    reply_problem(x, CC_PRECONDITION_FAILED,
                  "The carer's record has changed since you read it (now version %s); read it "
                  "again and reapply your change.",
                  PQgetvalue(res, 0, 1));
    goto done;
  }
  current = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
  if (!current) {
    status = CC_INTERNAL;
    goto failed;
  }
  merged = fields_merge_patch_new(current, x->body);
  {
    struct field_errors errors = {0};
    fields_validate_merged(merged, CARER_FIELDS, &errors);
    char today[11];
    uk_local_date(time(NULL), today);
    if (!errors.count) check_carer(merged, today, &errors);
    if (errors.count) {
      reply_validation(x, &errors);
      goto done;
    }
  }
  params[0] = strdup(id);
  for (size_t i = 0; i < COLUMN_COUNT; i++)
    params[1 + i] = fields_param_new(json_object_get(merged, COLUMNS[i]));
  status = tx_exec(&tx, &UPDATE, (const char *const *)params, &updated);
  if (status == CC_OK && PQntuples(updated) != 1) status = CC_INTERNAL;
  if (status != CC_OK) goto failed;
  changes = fields_changes_new(current, merged, CARER_FIELDS);
  details = json_pack("{s:O}", "changes", changes);
  status = audit_carer(x, &tx, "update", id, person, details);
  if (status == CC_OK) status = tx_commit(&tx);
  if (status != CC_OK) goto failed;
  reply_carer(x, 200, updated);
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) free(params[i]);
  json_decref(details);
  json_decref(changes);
  json_decref(merged);
  json_decref(current);
  PQclear(updated);
  PQclear(res);
  tx_end(&tx);
}

enum cc_status carer_consent_check(struct tx *tx, const char *person, const char *carer_id,
                                   const char *scope, const char *pointer,
                                   struct field_errors *errors, char **name) {
  *name = NULL;
  PGresult *res = NULL;
  enum cc_status status = tx_exec(tx, &CONSENT, (const char *const[]){carer_id, person}, &res);
  if (status != CC_OK) return status;
  if (PQntuples(res) == 0) {
    field_errors_add(errors, pointer, "R-CAR-1", "must name a carer of this service user");
    PQclear(res);
    return CC_OK;
  }
  json_t *consent = PQgetisnull(res, 0, 1) ? NULL : json_loads(PQgetvalue(res, 0, 1), 0, NULL);
  bool covered = false;
  size_t i;
  json_t *item;
  json_array_foreach(json_object_get(consent, "scope"), i, item) {
    if (json_is_string(item) && strcmp(json_string_value(item), scope) == 0) covered = true;
  }
  if (!json_is_true(json_object_get(consent, "given")))
    field_errors_add(errors, pointer, "R-CAR-1",
                     "names a carer the service user has not consented to share information "
                     "with: record their consent on the carer first");
  else if (!covered)
    field_errors_add(errors, pointer, "R-CAR-1",
                     "names a carer whose consent does not cover %s: the service user's consent "
                     "is limited to what it says",
                     scope);
  else
    *name = strdup(PQgetvalue(res, 0, 0));
  json_decref(consent);
  PQclear(res);
  return CC_OK;
}
