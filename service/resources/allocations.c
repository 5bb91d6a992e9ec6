/* Allocations (DOMAIN.md care cycle step 3): who holds an episode of care, the care
 * co-ordinator, lead professional or interim named nurse (R-ALC-2), a staff member or an
 * external holder such as the probation service for a community DRR; the deputy who covers their
 * absence (R-ALC-4); the service user's preferences and whether they were met (R-ALC-3).
 *
 * R-ALC-1 and concurrency. An episode has at most one current allocation (ended_at IS NULL),
 * guaranteed by a partial unique index. A new allocation names the one it replaces
 * (replaces_allocation_id, with end_reason), and in one transaction that one is ended and the new
 * one inserted, so the handover has no gap and no overlap. Writers lock the episode row first, so
 * two managers allocating at once queue up: the second then sees the first's allocation and gets
 * 409 naming it (its replaces_allocation_id is stale, or it named none while one is current).
 * Anything that slips past the lock (a writer outside the service) meets the unique index, which
 * is also answered 409.
 *
 * Allocating is a manager's act for the team holding the episode; the holder and the deputy
 * gain access to the person's record the moment the allocation commits and lose it the moment
 * it ends, because the access policy reads allocations live (auth/policy.h). */
#include "resources/allocations.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/idempotency.h"
#include "resources/record.h"
#include "resources/resources.h"

static const char *const ROLES[] = {"care_coordinator", "lead_professional",
                                    "interim_named_nurse", NULL};
static const char *const PREFERRED_GENDERS[] = {"male", "female", "other", "no_preference", NULL};

static const struct field_spec EXTERNAL_HOLDER_FIELDS[] = {
    {.name = "name", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 1, .max_len = 200},
    {.name = "organisation", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 1,
     .max_len = 200},
    {.name = "contact", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 1,
     .max_len = 200},
    {0}};

/* R-ALC-3 */
static const struct field_spec PREFERENCE_FIELDS[] = {
    {.name = "coordinator_gender", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED,
     .choices = PREFERRED_GENDERS},
    {.name = "cultural_religious_needs", .kind = FIELD_TEXT, .flags = FIELD_NULLABLE,
     .min_len = 1, .max_len = 2000},
    {.name = "met", .kind = FIELD_BOOL, .flags = FIELD_REQUIRED},
    {.name = "not_met_reason", .kind = FIELD_TEXT, .flags = FIELD_NULLABLE, .min_len = 1,
     .max_len = 2000},
    {0}};

const struct field_spec ALLOCATION_CREATE_FIELDS[] = {
    {.name = "role", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = ROLES},
    {.name = "holder_staff_id", .kind = FIELD_UUID, .flags = FIELD_NULLABLE},
    {.name = "external_holder", .kind = FIELD_OBJECT, .flags = FIELD_NULLABLE,
     .members = EXTERNAL_HOLDER_FIELDS},
    {.name = "deputy_staff_id", .kind = FIELD_UUID, .flags = FIELD_NULLABLE},
    {.name = "preferences", .kind = FIELD_OBJECT, .flags = FIELD_REQUIRED,
     .members = PREFERENCE_FIELDS},
    {.name = "replaces_allocation_id", .kind = FIELD_UUID, .flags = FIELD_NULLABLE},
    /* Why the allocation named by replaces_allocation_id ends (R-ALC-1). */
    {.name = "end_reason", .kind = FIELD_TEXT, .flags = FIELD_NULLABLE, .min_len = 1,
     .max_len = 2000},
    {0}};

/* A stored allocation, as merge patches see it: the deputy and the preferences can change. */
static const struct field_spec ALLOCATION_FIELDS[] = {
    {.name = "id", .kind = FIELD_UUID, .flags = FIELD_READ_ONLY},
    {.name = "episode_id", .kind = FIELD_UUID, .flags = FIELD_READ_ONLY},
    {.name = "role", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED | FIELD_IMMUTABLE,
     .choices = ROLES},
    {.name = "holder_staff_id", .kind = FIELD_UUID, .flags = FIELD_NULLABLE | FIELD_IMMUTABLE},
    {.name = "external_holder", .kind = FIELD_OBJECT, .flags = FIELD_NULLABLE | FIELD_IMMUTABLE,
     .members = EXTERNAL_HOLDER_FIELDS},
    {.name = "holder_name", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {.name = "deputy_staff_id", .kind = FIELD_UUID, .flags = FIELD_NULLABLE},
    {.name = "deputy_name", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {.name = "preferences", .kind = FIELD_OBJECT, .flags = FIELD_REQUIRED,
     .members = PREFERENCE_FIELDS},
    {.name = "replaces_allocation_id", .kind = FIELD_UUID,
     .flags = FIELD_NULLABLE | FIELD_IMMUTABLE},
    {.name = "replaced_by_allocation_id", .kind = FIELD_UUID, .flags = FIELD_READ_ONLY},
    {.name = "started_at", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {.name = "ended_at", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {.name = "end_reason", .kind = FIELD_TEXT, .flags = FIELD_READ_ONLY},
    {.name = "current", .kind = FIELD_BOOL, .flags = FIELD_READ_ONLY},
    {.name = "created_by", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {.name = "updated_at", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {.name = "version", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {0}};

#define ALLOCATION_COLUMNS "a.id, a.version, " ALLOCATION_JSON("a") "::text"

static const struct db_stmt CURRENT = {
    "allocations_current",
    "SELECT a.id, a.holder_staff_id FROM allocations a"
    " WHERE a.episode_id = $1::uuid AND a.ended_at IS NULL",
    1};
/* Whether each staff member named exists (NULL when not) and is active. */
static const struct db_stmt STAFF_ACTIVE = {
    "allocations_staff_active",
    "SELECT (SELECT active FROM staff WHERE id = $1::uuid),"
    " (SELECT active FROM staff WHERE id = $2::uuid)",
    2};
/* R-ALC-1: the previous allocation ends as the next begins, in the same transaction. */
static const struct db_stmt END_CURRENT = {
    "allocations_end_current",
    "UPDATE allocations SET ended_at = now(), end_reason = $3, updated_at = now(),"
    " version = version + 1"
    " WHERE id = $1::uuid AND episode_id = $2::uuid AND ended_at IS NULL RETURNING id",
    3};
static const struct db_stmt INSERT = {
    "allocations_insert",
    "INSERT INTO allocations AS a (episode_id, role, holder_staff_id, external_holder_name,"
    " external_holder_organisation, external_holder_contact, deputy_staff_id,"
    " preferred_coordinator_gender, preferred_cultural_religious_needs, preferences_met,"
    " preferences_not_met_reason, replaces_allocation_id, created_by)"
    " VALUES ($1::uuid, $2, $3::uuid, $4, $5, $6, $7::uuid, $8, $9, $10::boolean, $11,"
    " $12::uuid, $13) RETURNING " ALLOCATION_COLUMNS,
    13};
static const struct db_stmt SELECT = {
    "allocations_select",
    "SELECT " ALLOCATION_COLUMNS " FROM allocations a"
    " WHERE a.id = $1::uuid AND a.episode_id = $2::uuid",
    2};
/* The fourth column says whether the allocation is current. */
static const struct db_stmt LOCK = {
    "allocations_lock",
    "SELECT " ALLOCATION_COLUMNS ", a.ended_at IS NULL FROM allocations a"
    " WHERE a.id = $1::uuid AND a.episode_id = $2::uuid FOR UPDATE",
    2};
static const struct db_stmt UPDATE = {
    "allocations_update",
    "UPDATE allocations AS a SET deputy_staff_id = $2::uuid, preferred_coordinator_gender = $3,"
    " preferred_cultural_religious_needs = $4, preferences_met = $5::boolean,"
    " preferences_not_met_reason = $6, updated_at = now(), version = a.version + 1"
    " WHERE a.id = $1::uuid AND a.ended_at IS NULL RETURNING " ALLOCATION_COLUMNS,
    6};
/* An episode's allocations, newest first: the history of who held it (R-ALC-1). */
static const struct db_stmt LIST = {
    "allocations_list",
    "SELECT " ALLOCATION_COLUMNS ", a.id::text FROM allocations a"
    " WHERE a.episode_id = $1::uuid"
    "   AND ($2::uuid IS NULL OR (a.started_at, a.id) <"
    "        (SELECT p.started_at, p.id FROM allocations p WHERE p.id = $2::uuid))"
    " ORDER BY a.started_at DESC, a.id DESC LIMIT $3",
    3};

static const char *text_of(const json_t *object, const char *name) {
  return json_string_value(json_object_get(object, name));
}

static bool same_id(const char *a, const char *b) { return a && b && strcasecmp(a, b) == 0; }

void allocation_check_body(const json_t *body, const char *pointer, bool create,
                           struct field_errors *errors) {
  char ptr[160];
  const char *holder = text_of(body, "holder_staff_id");
  const json_t *external = json_object_get(body, "external_holder");
  bool has_external = json_is_object(external);
  if ((holder != NULL) == has_external) {
    snprintf(ptr, sizeof ptr, "%s/holder_staff_id", pointer);
    field_errors_add(errors, ptr, NULL,
                     "exactly one of holder_staff_id and external_holder names the holder");
  }
  const char *role = text_of(body, "role");
  if (has_external && role && strcmp(role, "interim_named_nurse") == 0) {
    snprintf(ptr, sizeof ptr, "%s/external_holder", pointer);
    field_errors_add(errors, ptr, "R-ALC-2",
                     "an interim named nurse is a nurse of the ward: name them in holder_staff_id");
  }
  if (same_id(holder, text_of(body, "deputy_staff_id"))) {
    snprintf(ptr, sizeof ptr, "%s/deputy_staff_id", pointer);
    field_errors_add(errors, ptr, "R-ALC-4", "the deputy covers the holder's absence, so must "
                                             "be someone other than the holder");
  }
  const json_t *preferences = json_object_get(body, "preferences");
  const json_t *met = json_object_get(preferences, "met");
  bool has_reason = json_is_string(json_object_get(preferences, "not_met_reason"));
  snprintf(ptr, sizeof ptr, "%s/preferences/not_met_reason", pointer);
  if (json_is_false(met) && !has_reason)
    field_errors_add(errors, ptr, "R-ALC-3",
                     "is required when the service user's preferences were not met");
  else if (json_is_true(met) && has_reason)
    field_errors_add(errors, ptr, "R-ALC-3",
                     "must be null when the service user's preferences were met");
  if (!create) return;
  bool replaces = text_of(body, "replaces_allocation_id") != NULL;
  bool has_end_reason = text_of(body, "end_reason") != NULL;
  snprintf(ptr, sizeof ptr, "%s/end_reason", pointer);
  if (replaces && !has_end_reason)
    field_errors_add(errors, ptr, "R-ALC-1",
                     "is required: it says why the allocation named in replaces_allocation_id "
                     "ends");
  else if (!replaces && has_end_reason)
    field_errors_add(errors, ptr, "R-ALC-1",
                     "goes with replaces_allocation_id, the allocation that ends");
}

/* Adds an error when the staff member in column col of res is unknown or inactive. */
static void check_staff(PGresult *res, int col, const char *pointer, const char *member,
                        const char *who, struct field_errors *errors) {
  char ptr[160];
  snprintf(ptr, sizeof ptr, "%s/%s", pointer, member);
  if (PQgetisnull(res, 0, col))
    field_errors_add(errors, ptr, NULL, "must name a staff member (no staff member has this id)");
  else if (strcmp(PQgetvalue(res, 0, col), "t") != 0)
    field_errors_add(errors, ptr, NULL, "must name an active staff member: the %s is inactive",
                     who);
}

/* The staff named as holder and deputy are active members of staff. */
static enum cc_status check_staff_active(struct tx *tx, const char *holder, const char *deputy,
                                         const char *pointer, struct field_errors *errors) {
  if (!holder && !deputy) return CC_OK;
  PGresult *res = NULL;
  enum cc_status status = tx_exec(tx, &STAFF_ACTIVE, (const char *const[]){holder, deputy}, &res);
  if (status == CC_OK) {
    if (holder) check_staff(res, 0, pointer, "holder_staff_id", "holder", errors);
    if (deputy) check_staff(res, 1, pointer, "deputy_staff_id", "deputy", errors);
  }
  PQclear(res);
  return status;
}

/* R-ALC-2: the role fits the episode's care level and team. */
static void check_role(const struct episode *ep, const char *role_name, const char *pointer,
                       struct field_errors *errors) {
  enum allocation_role role;
  if (!allocation_role_parse(role_name, &role)) return; /* refused by the field table */
  char ptr[160];
  snprintf(ptr, sizeof ptr, "%s/role", pointer);
  switch (allocation_role_fit(role, ep->care_level, ep->inpatient_ward,
                              ep->clock_allocation_id[0] != '\0')) {
  case FIT_OK:
    return;
  case FIT_WRONG_FOR_CARE_LEVEL:
    field_errors_add(errors, ptr, "R-ALC-2", "must be %s: the episode's care level is %s",
                     allocation_role_name(allocation_role_for_care_level(ep->care_level)),
                     care_level_name(ep->care_level));
    return;
  case FIT_INTERIM_NOT_INPATIENT:
    field_errors_add(errors, ptr, "R-ALC-2",
                     "interim_named_nurse is only for an episode held by an inpatient ward");
    return;
  case FIT_INTERIM_AFTER_COORDINATOR:
    field_errors_add(errors, ptr, "R-ALC-2",
                     "interim_named_nurse holds an episode only until a co-ordinator is "
                     "allocated, and this episode has had one");
    return;
  }
}

static char *member_param(const json_t *object, const char *name) {
  return fields_param_new(json_object_get(object, name));
}

static bool reply_insert_failure(struct exchange *x, const struct tx *tx, enum cc_status status) {
  if (strcmp(tx->error.constraint, "allocations_one_current_per_episode") == 0 ||
      strcmp(tx->error.constraint, "allocations_replaces_key") == 0)
    reply_problem(x, CC_CONFLICT,
                  "Another allocation of this episode was made at the same time; read the "
                  "episode's allocations and try again.");
  else if (status == CC_VALIDATION)
    reply_problem(x, CC_VALIDATION, "The allocation breaks a rule of the database.");
  else
    reply_problem(x, status, NULL);
  return false;
}

/* R-ALC-1: replaces_allocation_id must name the current allocation, and must be given when
 * there is one. Replies 409 naming the current allocation otherwise. */
static bool check_replaces(struct exchange *x, const char *current, const char *replaces) {
  if (!current && !replaces) return true;
  if (current && same_id(current, replaces)) return true;
  if (!current)
    reply_problem(x, CC_CONFLICT,
                  "replaces_allocation_id %s is not the current allocation: this episode has no "
                  "current allocation, so leave replaces_allocation_id and end_reason out.",
                  replaces);
  else if (!replaces)
    reply_problem(x, CC_CONFLICT,
                  "This episode already has a current allocation, %s: name it in "
                  "replaces_allocation_id with an end_reason to hand over (R-ALC-1).",
                  current);
  else
    reply_problem(x, CC_CONFLICT,
                  "replaces_allocation_id is stale: the current allocation of this episode is "
                  "%s (R-ALC-1).",
                  current);
  return false;
}

bool allocation_make(struct exchange *x, struct tx *tx, const struct episode *ep,
                     const json_t *body, const char *pointer, bool holder_must_change,
                     struct allocation_made *made) {
  *made = (struct allocation_made){0};
  if (!ep->open) {
    reply_problem(x, CC_CONFLICT, "The episode is closed: only an open episode is allocated.");
    return false;
  }
  bool ok = false;
  PGresult *current = NULL, *ended = NULL, *inserted = NULL;
  json_t *details = NULL;
  char *params[13] = {0};
  const char *holder = text_of(body, "holder_staff_id");
  const char *replaces = text_of(body, "replaces_allocation_id");
  enum cc_status status = tx_exec(tx, &CURRENT, (const char *const[]){ep->id}, &current);
  if (status != CC_OK) goto failed;
  const char *current_id = PQntuples(current) ? PQgetvalue(current, 0, 0) : NULL;
  const char *current_holder =
      current_id && !PQgetisnull(current, 0, 1) ? PQgetvalue(current, 0, 1) : NULL;

  struct field_errors errors = {0};
  status = check_staff_active(tx, holder, text_of(body, "deputy_staff_id"), pointer, &errors);
  if (status != CC_OK) goto failed;
  check_role(ep, text_of(body, "role"), pointer, &errors);
  if (holder_must_change && same_id(holder, current_holder)) {
    char ptr[160];
    snprintf(ptr, sizeof ptr, "%s/holder_staff_id", pointer);
    field_errors_add(&errors, ptr, NULL,
                     "must not be the current holder: the service user asked for a change");
  }
  if (errors.count) {
    reply_validation(x, &errors);
    goto done;
  }
  if (!check_replaces(x, current_id, replaces)) goto done;

  if (current_id) {
    const char *end[] = {current_id, ep->id, text_of(body, "end_reason")};
    status = tx_exec(tx, &END_CURRENT, end, &ended);
    if (status != CC_OK) goto failed;
    if (PQntuples(ended) != 1) { /* only without the episode lock: a writer outside the service */
      reply_problem(x, CC_CONFLICT,
                    "The current allocation of this episode changed while this request ran; "
                    "read the episode's allocations and try again.");
      goto done;
    }
  }
  const json_t *external = json_object_get(body, "external_holder");
  const json_t *preferences = json_object_get(body, "preferences");
  params[0] = strdup(ep->id);
  params[1] = member_param(body, "role");
  params[2] = member_param(body, "holder_staff_id");
  params[3] = member_param(external, "name");
  params[4] = member_param(external, "organisation");
  params[5] = member_param(external, "contact");
  params[6] = member_param(body, "deputy_staff_id");
  params[7] = member_param(preferences, "coordinator_gender");
  params[8] = member_param(preferences, "cultural_religious_needs");
  params[9] = member_param(preferences, "met");
  params[10] = member_param(preferences, "not_met_reason");
  params[11] = member_param(body, "replaces_allocation_id");
  params[12] = strdup(x->principal.subject);
  status = tx_exec(tx, &INSERT, (const char *const *)params, &inserted);
  if (status != CC_OK) {
    reply_insert_failure(x, tx, status);
    goto done;
  }
  snprintf(made->id, sizeof made->id, "%s", PQgetvalue(inserted, 0, 0));
  snprintf(made->version, sizeof made->version, "%s", PQgetvalue(inserted, 0, 1));
  made->json = strdup(PQgetvalue(inserted, 0, 2));
  if (current_id) {
    details = json_pack("{s:[{s:s}, {s:s}], s:s}", "changes", "field", "ended_at", "field",
                        "end_reason", "replaced_by_allocation_id", made->id);
    status = episode_audit(x, tx, "update", "allocation", current_id, ep, details);
    json_decref(details);
    details = current_id ? json_pack("{s:s}", "replaces_allocation_id", current_id) : NULL;
  }
  if (status == CC_OK) status = episode_audit(x, tx, "create", "allocation", made->id, ep, details);
  if (status == CC_OK && !made->json) status = CC_INTERNAL;
  if (status != CC_OK) goto failed;
  ok = true;
  goto done;
failed:
  reply_problem(x, status, NULL);
done:
  if (!ok) allocation_made_free(made);
  for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) free(params[i]);
  json_decref(details);
  PQclear(inserted);
  PQclear(ended);
  PQclear(current);
  return ok;
}

void allocation_made_free(struct allocation_made *made) {
  free(made->json);
  made->json = NULL;
}

/* Validates a create body: the field table, then the rules across members. */
static bool validate_create(struct exchange *x, const json_t *body) {
  struct field_errors errors = {0};
  fields_validate(body, ALLOCATION_CREATE_FIELDS, VALIDATE_CREATE, "", &errors);
  if (!errors.count) allocation_check_body(body, "", true, &errors);
  if (!errors.count) return true;
  reply_validation(x, &errors);
  return false;
}

void allocations_create(struct exchange *x) {
  if (!validate_create(x, x->body)) return;
  struct tx tx;
  struct episode ep;
  struct allocation_made made = {0};
  enum access_decision decision;
  enum idempotency_state idem = IDEMPOTENCY_NONE;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    goto done;
  }
  if (!episode_access(x, &tx, "allocation", NULL, true, ACCESS_WRITE,
                      access_break_glass_requested(x), &ep, &decision))
    goto done;
  struct access_target deny = {"allocation", NULL, ep.service_user_id};
  if (!episode_require_holding_team(x, &tx, &ep, &deny)) goto done;
  /* Claimed after the access step, whose refusal commits: a refused request leaves no key. */
  if (idempotency_begin(x, &tx, &idem) != CC_OK || idem == IDEMPOTENCY_REPLAYED) goto done;
  if (!allocation_make(x, &tx, &ep, x->body, "", false, &made)) goto done;
  char location[160], etag[40];
  snprintf(location, sizeof location, "/episodes/%s/allocations/%s", ep.id, made.id);
  snprintf(etag, sizeof etag, "\"%s\"", made.version);
  if (idem == IDEMPOTENCY_CLAIMED)
    status = idempotency_store(x, &tx, 201, made.json, location, etag);
  if (status == CC_OK) status = tx_commit(&tx);
  if (status != CC_OK) {
    reply_problem(x, status, NULL);
    goto done;
  }
  reply_header(x, "Location", location);
  reply_header(x, "ETag", etag);
  reply_json_text(x, 201, made.json);
done:
  allocation_made_free(&made);
  tx_end(&tx);
}

void allocations_get(struct exchange *x) {
  episode_child_get(x, "allocation", &SELECT, "No allocation of this episode has this id.");
}

void allocations_list(struct exchange *x) {
  episode_child_list(x, "allocation", &LIST);
}

/* The deputy and the preferences of the current allocation change (R-ALC-3, R-ALC-4); who holds
 * it and why it began do not: a new holder is a new allocation. */
void allocations_update(struct exchange *x) {
  const char *id = episode_child_id(x, "No allocation of this episode has this id.");
  if (!id) return;
  long expected = 0;
  if (exchange_if_match(x, &expected) != CC_OK) return;
  struct field_errors errors = {0};
  fields_validate(x->body, ALLOCATION_FIELDS, VALIDATE_PATCH, "", &errors);
  if (errors.count) {
    reply_validation(x, &errors);
    return;
  }
  struct tx tx;
  struct episode ep;
  PGresult *res = NULL;
  json_t *current = NULL, *merged = NULL;
  char *params[6] = {0};
  enum access_decision decision;
  enum cc_status status = tx_begin(x->app->pool, &tx);
  if (status != CC_OK) goto failed;
  if (!episode_access(x, &tx, "allocation", id, true, ACCESS_WRITE,
                      access_break_glass_requested(x), &ep, &decision))
    goto done;
  struct access_target deny = {"allocation", id, ep.service_user_id};
  if (!episode_require_holding_team(x, &tx, &ep, &deny)) goto done;
  status = tx_exec(&tx, &LOCK, (const char *const[]){id, ep.id}, &res);
  if (status != CC_OK) goto failed;
  if (PQntuples(res) == 0) {
    reply_problem(x, CC_NOT_FOUND, "No allocation of this episode has this id.");
    goto done;
  }
  if (strcmp(PQgetvalue(res, 0, 3), "t") != 0) {
    reply_problem(x, CC_CONFLICT,
                  "This allocation has ended: only the current allocation can be changed.");
    goto done;
  }
  if (atol(PQgetvalue(res, 0, 1)) != expected) {
    reply_etag(x, PQgetvalue(res, 0, 1));
    reply_problem(x, CC_PRECONDITION_FAILED,
                  "The allocation has changed since you read it (now version %s); read it "
                  "again and reapply your change.",
                  PQgetvalue(res, 0, 1));
    goto done;
  }
  current = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
  merged = fields_merge_patch_new(current, x->body);
  fields_validate_merged(merged, ALLOCATION_FIELDS, &errors);
  if (!errors.count) allocation_check_body(merged, "", false, &errors);
  const char *deputy = text_of(merged, "deputy_staff_id");
  bool deputy_changed = !same_id(deputy, text_of(current, "deputy_staff_id"));
  if (!errors.count && deputy_changed)
    status = check_staff_active(&tx, NULL, deputy, "", &errors);
  if (status != CC_OK) goto failed;
  if (errors.count) {
    reply_validation(x, &errors);
    goto done;
  }
  const json_t *preferences = json_object_get(merged, "preferences");
  params[0] = strdup(id);
  params[1] = member_param(merged, "deputy_staff_id");
  params[2] = member_param(preferences, "coordinator_gender");
  params[3] = member_param(preferences, "cultural_religious_needs");
  params[4] = member_param(preferences, "met");
  params[5] = member_param(preferences, "not_met_reason");
  episode_child_update(x, &tx, &ep, &UPDATE, (const char *const *)params, NULL, "allocation",
                       id, ALLOCATION_FIELDS, current, merged);
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
