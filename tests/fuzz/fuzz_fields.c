/* The JSON request validators (service/fields.c) on bodies read as the server reads them
 * (http/body.c): the real create table of allocations (and its cross-member rules,
 * allocation_check_body), and a table in the shape of a care plan's that uses every field kind
 * and flag, nested objects in arrays in objects, and rule checks (NHS number, risk category).
 * Each body is validated as a create and as a merge patch, merged onto a stored record,
 * revalidated as merged, diffed for the audit trail and turned into SQL parameters.
 *
 * Properties: at most FIELD_ERRORS_MAX errors, each naming a JSON Pointer and a reason; a body
 * valid as a create is valid as merged too; every change names a field; every non-null member
 * has a parameter text. */
#include <stdbool.h>

#include "fields.h"
#include "fuzz.h"
#include "http/body.h"
#include "resources/allocations.h"
#include "rules/assessment_rules.h"
#include "rules/nhs_number.h"

static const char *const PROVIDERS[] = {"staff", "agency", "person", "carer", NULL};
static const char *const LEVELS[] = {"cpa", "non_cpa", NULL};

static const struct field_spec CONTACT[] = {
    {.name = "name", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 1, .max_len = 200},
    {.name = "number", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 3, .max_len = 30},
    {0}};

static const struct field_spec INTERVENTION[] = {
    {.name = "what", .kind = FIELD_TEXT, .flags = FIELD_REQUIRED, .min_len = 1, .max_len = 10000},
    {.name = "delivered_by", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = PROVIDERS},
    {.name = "staff_id", .kind = FIELD_UUID, .flags = FIELD_NULLABLE},
    {.name = "from", .kind = FIELD_DATE, .flags = FIELD_NULLABLE},
    {.name = "contacts", .kind = FIELD_OBJECT_ARRAY, .min_len = 0, .max_len = 10,
     .members = CONTACT},
    {0}};

static const struct field_spec RISK_PLAN[] = {
    {.name = "plan", .kind = FIELD_TEXT, .flags = FIELD_REQUIRED, .min_len = 1, .max_len = 10000},
    {.name = "risk_categories", .kind = FIELD_STRING_ARRAY, .flags = FIELD_REQUIRED, .min_len = 0,
     .max_len = 13, .check = risk_category_known, .check_reason = "must be a risk category"},
    {.name = "interventions", .kind = FIELD_OBJECT_ARRAY, .min_len = 0, .max_len = 50,
     .members = INTERVENTION},
    {0}};

static const struct field_spec PLAN[] = {
    {.name = "id", .kind = FIELD_UUID, .flags = FIELD_READ_ONLY},
    {.name = "nhs_number", .kind = FIELD_STRING, .flags = FIELD_REQUIRED | FIELD_IMMUTABLE,
     .min_len = 10, .max_len = 10, .check = nhs_number_is_valid,
     .check_reason = "must be a valid NHS number", .rule = "R-SU-1"},
    {.name = "care_level", .kind = FIELD_ENUM, .flags = FIELD_REQUIRED, .choices = LEVELS},
    {.name = "signed", .kind = FIELD_BOOL, .flags = FIELD_NULLABLE},
    {.name = "review_at", .kind = FIELD_DATETIME, .flags = FIELD_NULLABLE},
    {.name = "plan_version", .kind = FIELD_INTEGER, .min_len = 1, .max_len = 1000},
    {.name = "interventions", .kind = FIELD_OBJECT_ARRAY, .min_len = 0, .max_len = 50,
     .members = INTERVENTION},
    {.name = "risk_management_plan", .kind = FIELD_OBJECT, .flags = FIELD_NULLABLE,
     .members = RISK_PLAN},
    {.name = "persons_views", .kind = FIELD_TEXT, .flags = FIELD_NULLABLE, .min_len = 1,
     .max_len = 10000},
    {.name = "version", .kind = FIELD_INTEGER, .flags = FIELD_READ_ONLY, .min_len = 1,
     .max_len = 1000000},
    {0}};

/* A stored record that PLAN accepts. */
static const char STORED[] =
    "{\"id\":\"3f1c1b8e-3c0a-4a59-9b7e-2f3f1d0c9a01\",\"nhs_number\":\"9434765919\","
    "\"care_level\":\"cpa\",\"signed\":null,\"review_at\":\"2026-06-01T09:00:00Z\","
    "\"plan_version\":2,\"interventions\":[{\"what\":\"Benefits advice\","
    "\"delivered_by\":\"agency\",\"staff_id\":null,\"from\":\"2026-02-01\","
    "\"contacts\":[{\"name\":\"Crisis line\",\"number\":\"0800 000 0000\"}]}],"
    "\"risk_management_plan\":{\"plan\":\"Weekly review\",\"risk_categories\":[\"self_harm\"]},"
    "\"persons_views\":\"Wants help\\nwith housing\",\"version\":3}";

static json_t *stored;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  stored = json_loads(STORED, 0, NULL);
  struct field_errors errors = {0};
  if (!stored) abort();
  fields_validate_merged(stored, PLAN, &errors);
  if (errors.count) abort(); /* the harness's own record must be valid */
  return 0;
}

static void check_errors(const struct field_errors *errors) {
  FUZZ_REQUIRE(errors->count <= FIELD_ERRORS_MAX);
  for (size_t i = 0; i < errors->count; i++) {
    FUZZ_REQUIRE(errors->items[i].field[0] == '/');
    FUZZ_REQUIRE(errors->items[i].reason[0] != '\0');
  }
}

static void check_params(const json_t *body) {
  const char *key;
  json_t *value;
  json_object_foreach((json_t *)body, key, value) {
    char *param = fields_param_new(value);
    FUZZ_REQUIRE(json_is_null(value) ? param == NULL : param != NULL);
    free(param);
  }
}

static void check_changes(const json_t *before, const json_t *after,
                          const struct field_spec *specs) {
  json_t *changes = fields_changes_new(before, after, specs);
  FUZZ_REQUIRE(json_is_array(changes));
  size_t i;
  json_t *change;
  json_array_foreach(changes, i, change)
    FUZZ_REQUIRE(json_is_string(json_object_get(change, "field")));
  json_decref(changes);
}

static void check_table(const json_t *body, const struct field_spec *specs, const json_t *record) {
  struct field_errors created = {0}, patched = {0}, merged_errors = {0};
  fields_validate(body, specs, VALIDATE_CREATE, "", &created);
  check_errors(&created);
  fields_validate(body, specs, VALIDATE_PATCH, "", &patched);
  check_errors(&patched);
  if (created.count == 0) {
    struct field_errors again = {0};
    fields_validate_merged(body, specs, &again);
    FUZZ_REQUIRE(again.count == 0);
  }
  if (record) {
    json_t *merged = fields_merge_patch_new(record, body);
    FUZZ_REQUIRE(json_is_object(merged));
    fields_validate_merged(merged, specs, &merged_errors);
    check_errors(&merged_errors);
    check_changes(record, merged, specs);
    json_decref(merged);
  }
  check_params(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_t *body = NULL;
  json_error_t error;
  if (body_parse_object((const char *)data, size, &body, &error) != BODY_OK) return 0;
  check_table(body, PLAN, stored);
  check_table(body, ALLOCATION_CREATE_FIELDS, NULL);
  struct field_errors errors = {0};
  fields_validate(body, ALLOCATION_CREATE_FIELDS, VALIDATE_CREATE, "", &errors);
  if (errors.count == 0) {
    allocation_check_body(body, "", true, &errors);
    check_errors(&errors);
  }
  json_decref(body);
  return 0;
}
