/* Staff: clinicians and managers, identified by their token's subject (`sub`). Their gender is
 * kept so allocations can honour a service user's preference (R-ALC-3). */
#include "http/cursor.h"
#include "resources/record.h"
#include "resources/resources.h"

static const char *const PROFESSIONAL_ROLES[] = {
    "nurse", "social_worker", "occupational_therapist", "psychologist", "psychiatrist",
    "doctor", "support_worker", "manager", "other", NULL};
static const char *const GENDERS[] = {"male", "female", "other", "unknown", NULL};

static const struct field_spec STAFF_FIELDS[] = {
    {.name = "id", .kind = FIELD_UUID, .flags = FIELD_READ_ONLY},
    {.name = "subject", .kind = FIELD_STRING, .flags = FIELD_REQUIRED | FIELD_IMMUTABLE,
     .min_len = 1, .max_len = 200},
    {.name = "name", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 1, .max_len = 120},
    {.name = "professional_role", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED,
     .choices = PROFESSIONAL_ROLES},
    {.name = "team_id", .kind = FIELD_UUID, .flags = FIELD_REQUIRED},
    {.name = "gender", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = GENDERS},
    {.name = "active", .kind = FIELD_BOOL, .fallback = "true"},
    {.name = "created_at", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {.name = "updated_at", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {.name = "version", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {0}};

#define STAFF_JSON                                                                              \
  "json_build_object('id', id, 'subject', subject, 'name', name, 'professional_role',"          \
  " professional_role, 'team_id', team_id, 'gender', gender, 'active', active, 'created_at',"   \
  " created_at, 'updated_at', updated_at, 'version', version)::text"

static const struct db_stmt INSERT = {
    "staff_insert",
    "INSERT INTO staff (subject, name, professional_role, team_id, gender, active)"
    " VALUES ($1, $2, $3, $4::uuid, $5, $6::boolean) RETURNING id, version, " STAFF_JSON,
    6};
static const struct db_stmt SELECT = {
    "staff_select", "SELECT id, version, " STAFF_JSON " FROM staff WHERE id = $1", 1};
static const struct db_stmt LOCK = {
    "staff_lock", "SELECT id, version, " STAFF_JSON " FROM staff WHERE id = $1 FOR UPDATE", 1};
static const struct db_stmt UPDATE = {
    "staff_update",
    "UPDATE staff SET name = $2, professional_role = $3, team_id = $4::uuid, gender = $5,"
    " active = $6::boolean, version = version + 1, updated_at = now()"
    " WHERE id = $1 RETURNING id, version, " STAFF_JSON,
    6};
static const struct db_stmt LIST = {
    "staff_list",
    "SELECT id, version, " STAFF_JSON ", id::text AS cursor_id FROM staff"
    " WHERE ($1::uuid IS NULL OR team_id = $1::uuid) AND ($2::text IS NULL OR subject = $2)"
    "   AND ($3::uuid IS NULL OR (lower(name) COLLATE \"C\", id) >"
    "        (SELECT lower(a.name) COLLATE \"C\", a.id FROM staff a WHERE a.id = $3::uuid))"
    " ORDER BY lower(name) COLLATE \"C\", id LIMIT $4",
    4};

static const struct constraint_problem STAFF_CONSTRAINTS[] = {
    {"staff_subject_key", CC_CONFLICT, NULL, "A staff member with this subject already exists."},
    {"staff_team_id_fkey", CC_VALIDATION, "/team_id", "no team has this id"},
    {0}};

static const struct record_type STAFF = {
    .resource_type = "staff",
    .collection_path = "/staff",
    .fields = STAFF_FIELDS,
    .insert = &INSERT,
    .select = &SELECT,
    .lock = &LOCK,
    .update = &UPDATE,
    .constraints = STAFF_CONSTRAINTS,
};

void staff_create(struct exchange *x) { record_create(x, &STAFF); }
void staff_get(struct exchange *x) { record_get(x, &STAFF); }
void staff_update(struct exchange *x) { record_update(x, &STAFF); }

void staff_list(struct exchange *x) {
  int limit;
  const char *team_id = NULL, *subject = NULL;
  char *after[1];
  if (query_limit(x, &limit) != CC_OK || query_uuid(x, "team_id", &team_id) != CC_OK ||
      query_text(x, "subject", 200, &subject) != CC_OK || record_cursor(x, 1, after) != CC_OK)
    return;
  const char *params[] = {team_id, subject, after[0], NULL};
  record_list(x, &STAFF, &LIST, params, limit, 1);
  cursor_parts_free(after, 1);
}
