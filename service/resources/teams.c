/* Teams: the units that hold episodes of care. Managers create and rename them. */
#include <string.h>

#include "http/cursor.h"
#include "resources/record.h"
#include "resources/resources.h"

static const char *const TEAM_TYPES[] = {"community_mental_health", "crisis_home_treatment",
                                         "inpatient_ward", "early_intervention",
                                         "substance_misuse", "other", NULL};

static const struct field_spec TEAM_FIELDS[] = {
    {.name = "id", .kind = FIELD_UUID, .flags = FIELD_READ_ONLY},
    {.name = "name", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 1, .max_len = 120},
    {.name = "type", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = TEAM_TYPES},
    {.name = "created_at", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {.name = "updated_at", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {.name = "version", .kind = FIELD_STRING, .flags = FIELD_READ_ONLY},
    {0}};

#define TEAM_JSON                                                                               \
  "json_build_object('id', id, 'name', name, 'type', type, 'created_at', created_at,"           \
  " 'updated_at', updated_at, 'version', version)::text"

static const struct db_stmt INSERT = {
    "teams_insert", "INSERT INTO teams (name, type) VALUES ($1, $2) RETURNING id, version, " TEAM_JSON, 2};
static const struct db_stmt SELECT = {
    "teams_select", "SELECT id, version, " TEAM_JSON " FROM teams WHERE id = $1", 1};
static const struct db_stmt LOCK = {
    "teams_lock", "SELECT id, version, " TEAM_JSON " FROM teams WHERE id = $1 FOR UPDATE", 1};
static const struct db_stmt UPDATE = {
    "teams_update",
    "UPDATE teams SET name = $2, type = $3, version = version + 1, updated_at = now()"
    " WHERE id = $1 RETURNING id, version, " TEAM_JSON,
    3};
static const struct db_stmt LIST = {
    "teams_list",
    "SELECT id, version, " TEAM_JSON ", id::text AS cursor_id FROM teams"
    " WHERE ($1::text IS NULL OR type = $1)"
    "   AND ($2::uuid IS NULL OR (lower(name) COLLATE \"C\", id) >"
    "        (SELECT lower(a.name) COLLATE \"C\", a.id FROM teams a WHERE a.id = $2::uuid))"
    " ORDER BY lower(name) COLLATE \"C\", id LIMIT $3",
    3};

static const struct constraint_problem TEAM_CONSTRAINTS[] = {
    {"teams_name_key", CC_CONFLICT, NULL, "A team with this name already exists."},
    {0}};

static const struct record_type TEAM = {
    .resource_type = "team",
    .collection_path = "/teams",
    .fields = TEAM_FIELDS,
    .insert = &INSERT,
    .select = &SELECT,
    .lock = &LOCK,
    .update = &UPDATE,
    .constraints = TEAM_CONSTRAINTS,
};

void teams_create(struct exchange *x) { record_create(x, &TEAM); }
void teams_get(struct exchange *x) { record_get(x, &TEAM); }
void teams_update(struct exchange *x) { record_update(x, &TEAM); }

void teams_list(struct exchange *x) {
  int limit;
  const char *type = NULL;
  char *after[1];
  if (query_limit(x, &limit) != CC_OK || query_text(x, "type", 40, &type) != CC_OK) return;
  if (type) {
    bool known = false;
    for (const char *const *t = TEAM_TYPES; *t; t++) known |= strcmp(*t, type) == 0;
    if (!known) {
      reply_problem(x, CC_BAD_REQUEST, "type is not a known team type.");
      return;
    }
  }
  if (record_cursor(x, 1, after) != CC_OK) return;
  const char *params[] = {type, after[0], NULL};
  record_list(x, &TEAM, &LIST, params, limit, 1);
  cursor_parts_free(after, 1);
}
