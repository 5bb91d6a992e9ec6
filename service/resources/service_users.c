/* Service users: the people whose care is co-ordinated. Every read and change of their record
 * is audited (R-AUD-1). The NHS number identifies the person and cannot be changed here. */
#include <stdlib.h>
#include <string.h>

#include "auth/policy.h"
#include "auth/roles.h"
#include "http/cursor.h"
#include "resources/record.h"
#include "resources/resources.h"
#include "rules/nhs_number.h"

static const char *const GENDERS[] = {"male", "female", "other", "unknown", NULL};

static bool is_ods_code(const char *text) {
  return strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == strlen(text);
}

static const struct field_spec ADDRESS_FIELDS[] = {
    {.name = "lines", .kind = FIELD_STRING_ARRAY, .flags = FIELD_REQUIRED, .min_len = 1,
     .max_len = 5},
    {.name = "postcode", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 2,
     .max_len = 10},
    {0}};

static const struct field_spec GP_PRACTICE_FIELDS[] = {
    {.name = "ods_code", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 3,
     .max_len = 10, .check = is_ods_code,
     .check_reason = "must be an ODS code: capital letters and digits"},
    {.name = "name", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 1, .max_len = 120},
    {0}};

static const struct field_spec SERVICE_USER_FIELDS[] = {
    {.name = "id", .kind = FIELD_UUID, .flags = FIELD_READ_ONLY},
    {.name = "nhs_number", .kind = FIELD_STRING, .flags = FIELD_REQUIRED | FIELD_IMMUTABLE,
     .min_len = 10, .max_len = 10, .check = nhs_number_is_valid,
     .check_reason = "must be a valid NHS number: 10 digits with a correct check digit"},
    {.name = "given_name", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 1,
     .max_len = 100},
    {.name = "family_name", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 1,
     .max_len = 100},
    {.name = "date_of_birth", .kind = FIELD_DATE, .flags = FIELD_REQUIRED},
    {.name = "gender", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = GENDERS},
    {.name = "address", .kind = FIELD_OBJECT, .flags = FIELD_NULLABLE, .members = ADDRESS_FIELDS},
    {.name = "gp_practice", .kind = FIELD_OBJECT, .flags = FIELD_NULLABLE,
     .members = GP_PRACTICE_FIELDS},
    {.name = "preferred_language", .kind = FIELD_STRING, .flags = FIELD_NULLABLE, .min_len = 1,
     .max_len = 35},
    {.name = "interpreter_required", .kind = FIELD_BOOL, .fallback = "false"},
    {.name = "cultural_religious_needs", .kind = FIELD_TEXT, .flags = FIELD_NULLABLE,
     .max_len = 2000},
    {.name = "communication_needs", .kind = FIELD_TEXT, .flags = FIELD_NULLABLE, .max_len = 2000},
    {.name = "created_at", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {.name = "updated_at", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {.name = "version", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {0}};

#define SU_JSON                                                                                  \
  "json_build_object('id', id, 'nhs_number', nhs_number, 'given_name', given_name,"             \
  " 'family_name', family_name, 'date_of_birth', date_of_birth, 'gender', gender,"              \
  " 'address', address, 'gp_practice', gp_practice, 'preferred_language', preferred_language,"  \
  " 'interpreter_required', interpreter_required, 'cultural_religious_needs',"                  \
  " cultural_religious_needs, 'communication_needs', communication_needs, 'created_at',"        \
  " created_at, 'updated_at', updated_at, 'version', version)::text"

static const struct db_stmt INSERT = {
    "service_users_insert",
    "INSERT INTO service_users (nhs_number, given_name, family_name, date_of_birth, gender,"
    " address, gp_practice, preferred_language, interpreter_required, cultural_religious_needs,"
    " communication_needs) VALUES ($1, $2, $3, $4::date, $5, $6::jsonb, $7::jsonb, $8,"
    " $9::boolean, $10, $11) RETURNING id, version, " SU_JSON,
    11};
static const struct db_stmt SELECT = {
    "service_users_select", "SELECT id, version, " SU_JSON " FROM service_users WHERE id = $1", 1};
static const struct db_stmt LOCK = {
    "service_users_lock",
    "SELECT id, version, " SU_JSON " FROM service_users WHERE id = $1 FOR UPDATE", 1};
static const struct db_stmt UPDATE = {
    "service_users_update",
    "UPDATE service_users SET given_name = $2, family_name = $3, date_of_birth = $4::date,"
    " gender = $5, address = $6::jsonb, gp_practice = $7::jsonb, preferred_language = $8,"
    " interpreter_required = $9::boolean, cultural_religious_needs = $10,"
    " communication_needs = $11, version = version + 1, updated_at = now()"
    " WHERE id = $1 RETURNING id, version, " SU_JSON,
    11};
/* Ordered by (family name, given name, id) compared bytewise, matching service_users_name_idx;
 * the name filter is a prefix (LIKE with the client's wildcards escaped). The cursor is the
 * last row's id, so no name ever travels in a URL. Only people the caller may read are listed
 * (auth/policy.h: $5 subject, $6 coordinator or lead professional, $7 manager): VISIBLE is the
 * policy's condition; break-glass never applies to lists. */
#define LIST_SQL(VISIBLE)                                                                        \
  "SELECT id, version, " SU_JSON ", id::text AS cursor_id FROM service_users s"                 \
  " WHERE ($1::text IS NULL OR nhs_number = $1)"                                                 \
  "   AND ($2::text IS NULL OR lower(family_name) COLLATE \"C\" LIKE lower($2) COLLATE \"C\")" \
  "   AND ($3::uuid IS NULL OR EXISTS (SELECT 1 FROM episodes e WHERE e.service_user_id = s.id"  \
  "        AND e.team_id = $3::uuid AND e.status = 'open'))"                                    \
  "   AND ($4::uuid IS NULL OR (lower(family_name) COLLATE \"C\", lower(given_name) COLLATE"    \
  "        \"C\", id) > (SELECT lower(a.family_name) COLLATE \"C\", lower(a.given_name) COLLATE" \
  "        \"C\", a.id FROM service_users a WHERE a.id = $4::uuid))"                              \
  "   AND (" VISIBLE ")"                                                                         \
  " ORDER BY lower(family_name) COLLATE \"C\", lower(given_name) COLLATE \"C\", id LIMIT $8"
static const struct db_stmt LIST = {
    "service_users_list", LIST_SQL(POLICY_LIST_CONDITION("s.id", "$5", "$6", "$7")), 8};
/* The same for a caller who sees only their caseload (policy_sees_only_caseload). */
static const struct db_stmt LIST_CASELOAD = {
    "service_users_list_caseload",
    LIST_SQL("$6::boolean AND NOT $7::boolean AND s.id IN (" POLICY_CASELOAD_SQL("$5") ")"), 8};

static const struct constraint_problem SERVICE_USER_CONSTRAINTS[] = {
    {"service_users_nhs_number_key", CC_CONFLICT, NULL,
     "A service user with this NHS number is already registered."},
    {0}};

static void check_service_user(const json_t *record, const char *today,
                               struct field_errors *errors) {
  const char *dob = json_string_value(json_object_get(record, "date_of_birth"));
  if (dob && strcmp(dob, today) > 0)
    field_errors_add(errors, "/date_of_birth", NULL, "must not be in the future");
  else if (dob && strcmp(dob, "1900-01-01") < 0)
    field_errors_add(errors, "/date_of_birth", NULL, "must be on or after 1900-01-01");
}

static const struct record_type SERVICE_USER = {
    .resource_type = "service_user",
    .collection_path = "/service-users",
    .fields = SERVICE_USER_FIELDS,
    .person_record = true,
    .insert = &INSERT,
    .select = &SELECT,
    .lock = &LOCK,
    .update = &UPDATE,
    .constraints = SERVICE_USER_CONSTRAINTS,
    .check = check_service_user,
};

void service_users_create(struct exchange *x) { record_create(x, &SERVICE_USER); }
void service_users_get(struct exchange *x) { record_get(x, &SERVICE_USER); }
void service_users_update(struct exchange *x) { record_update(x, &SERVICE_USER); }

/* The name filter as a LIKE prefix pattern with the client's % _ and \ taken literally.
 * Caller frees. */
static char *prefix_pattern_new(const char *prefix) {
  char *pattern = malloc(strlen(prefix) * 2 + 2), *p = pattern;
  if (!pattern) return NULL;
  for (const char *s = prefix; *s; s++) {
    if (*s == '%' || *s == '_' || *s == '\\') *p++ = '\\';
    *p++ = *s;
  }
  *p++ = '%';
  *p = '\0';
  return pattern;
}

void service_users_list(struct exchange *x) {
  int limit;
  const char *nhs_number = NULL, *name = NULL, *team_id = NULL;
  char *after[1];
  if (query_limit(x, &limit) != CC_OK || query_text(x, "nhs_number", 10, &nhs_number) != CC_OK ||
      query_text(x, "name", 100, &name) != CC_OK || query_uuid(x, "team_id", &team_id) != CC_OK)
    return;
  if (nhs_number && !nhs_number_is_valid(nhs_number)) {
    reply_problem(x, CC_BAD_REQUEST, "nhs_number must be a valid 10-digit NHS number.");
    return;
  }
  if (record_cursor(x, 1, after) != CC_OK) return;
  char *pattern = name ? prefix_pattern_new(name) : NULL;
  unsigned roles = x->principal.roles;
  const char *params[] = {nhs_number,
                          pattern,
                          team_id,
                          after[0],
                          x->principal.subject,
                          roles & (ROLE_COORDINATOR | ROLE_LEAD_PROFESSIONAL) ? "true" : "false",
                          roles & ROLE_MANAGER ? "true" : "false",
                          NULL};
  record_list(x, &SERVICE_USER, policy_sees_only_caseload(roles) ? &LIST_CASELOAD : &LIST, params,
              limit, 1);
  free(pattern);
  cursor_parts_free(after, 1);
}
