#include <stdlib.h>

#include "check.h"
#include "fields.h"

static const char *const COLOURS[] = {"red", "green", NULL};
static const struct field_spec INNER[] = {
    {.name = "code", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 1, .max_len = 4},
    {.name = "label", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 1, .max_len = 9},
    {0}};
static const struct field_spec SPECS[] = {
    {.name = "id", .kind = FIELD_UUID, .flags = FIELD_READ_ONLY},
    {.name = "key", .kind = FIELD_STRING, .flags = FIELD_REQUIRED | FIELD_IMMUTABLE, .min_len = 1,
     .max_len = 5},
    {.name = "name", .kind = FIELD_STRING, .flags = FIELD_REQUIRED, .min_len = 1, .max_len = 5},
    {.name = "colour", .kind = FIELD_ENUM, .choices = COLOURS},
    {.name = "born", .kind = FIELD_DATE, .flags = FIELD_NULLABLE},
    {.name = "note", .kind = FIELD_TEXT, .flags = FIELD_NULLABLE, .max_len = 20},
    {.name = "ok", .kind = FIELD_BOOL},
    {.name = "inner", .kind = FIELD_OBJECT, .flags = FIELD_NULLABLE, .members = INNER},
    {0}};

static struct field_errors run(const char *json, enum validate_mode mode) {
  struct field_errors errors = {0};
  json_t *object = json_loads(json, 0, NULL);
  fields_validate(object, SPECS, mode, "", &errors);
  json_decref(object);
  return errors;
}

static int has(const struct field_errors *e, const char *field) {
  for (size_t i = 0; i < e->count; i++)
    if (strcmp(e->items[i].field, field) == 0) return 1;
  return 0;
}

static void test_valid_create_passes(void) {
  struct field_errors e = run("{\"key\":\"k\",\"name\":\"Ann\",\"colour\":\"red\","
                              "\"born\":\"2024-02-29\",\"ok\":true,\"note\":\"a\\nb\"}",
                              VALIDATE_CREATE);
  CHECK(e.count == 0);
}

static void test_every_problem_is_reported_at_once(void) {
  struct field_errors e = run("{\"id\":\"x\",\"colour\":\"blue\",\"born\":\"2023-02-29\","
                              "\"ok\":\"yes\",\"extra\":1,\"note\":null}",
                              VALIDATE_CREATE);
  CHECK(has(&e, "/id"));     /* read-only */
  CHECK(has(&e, "/colour")); /* not a choice */
  CHECK(has(&e, "/born"));   /* not a calendar date */
  CHECK(has(&e, "/ok"));     /* wrong type */
  CHECK(has(&e, "/extra"));  /* unknown */
  CHECK(has(&e, "/key"));    /* required */
  CHECK(has(&e, "/name"));   /* required */
  CHECK(!has(&e, "/note"));  /* nullable */
  CHECK(e.count == 7);
}

static void test_lengths_count_characters_not_bytes(void) {
  CHECK(run("{\"key\":\"k\",\"name\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}", VALIDATE_CREATE).count == 0);
  CHECK(run("{\"key\":\"k\",\"name\":\"abcdef\"}", VALIDATE_CREATE).count == 1);
  CHECK(run("{\"key\":\"k\",\"name\":\"\"}", VALIDATE_CREATE).count == 1);
}

static void test_control_characters_refused_except_layout_in_text(void) {
  CHECK(has((struct field_errors[]){run("{\"key\":\"k\",\"name\":\"a\\tb\"}", VALIDATE_CREATE)}, "/name"));
  CHECK(run("{\"key\":\"k\",\"name\":\"ab\",\"note\":\"x\\ty\\r\\nz\"}", VALIDATE_CREATE).count == 0);
}

static void test_patch_refuses_immutable_and_removing_required(void) {
  struct field_errors e = run("{\"key\":\"new\",\"name\":null,\"born\":null}", VALIDATE_PATCH);
  CHECK(has(&e, "/key"));
  CHECK(has(&e, "/name"));
  CHECK(!has(&e, "/born"));
  CHECK(e.count == 2);
}

static void test_nested_objects_partial_in_patch_complete_after_merge(void) {
  CHECK(run("{\"inner\":{\"code\":\"A1\"}}", VALIDATE_PATCH).count == 0);
  CHECK(has((struct field_errors[]){run("{\"key\":\"k\",\"name\":\"n\",\"inner\":{\"code\":\"A1\"}}",
                                        VALIDATE_CREATE)},
            "/inner/label"));
  json_t *current = json_loads("{\"id\":\"x\",\"key\":\"k\",\"name\":\"n\",\"inner\":null}", 0, NULL);
  json_t *patch = json_loads("{\"inner\":{\"code\":\"A1\"}}", 0, NULL);
  json_t *merged = fields_merge_patch_new(current, patch);
  struct field_errors e = {0};
  fields_validate_merged(merged, SPECS, &e);
  CHECK(e.count == 1 && has(&e, "/inner/label"));
  json_decref(merged);
  json_decref(patch);
  json_decref(current);
}

static void test_merge_patch_follows_rfc7396(void) {
  json_t *target = json_loads("{\"a\":1,\"b\":{\"c\":2,\"d\":3},\"e\":4}", 0, NULL);
  json_t *patch = json_loads("{\"a\":9,\"b\":{\"c\":null,\"x\":5},\"e\":null}", 0, NULL);
  json_t *merged = fields_merge_patch_new(target, patch);
  json_t *want = json_loads("{\"a\":9,\"b\":{\"d\":3,\"x\":5},\"e\":null}", 0, NULL);
  /* nested nulls remove members; a top-level null is kept so the column is cleared */
  CHECK(json_equal(merged, want));
  json_decref(want);
  json_decref(merged);
  json_decref(patch);
  json_decref(target);
}

static void test_changes_hide_free_text_values(void) {
  json_t *before = json_loads("{\"name\":\"Ann\",\"note\":\"private\",\"ok\":true}", 0, NULL);
  json_t *after = json_loads("{\"name\":\"Bea\",\"note\":\"secret\",\"ok\":true}", 0, NULL);
  json_t *changes = fields_changes_new(before, after, SPECS);
  CHECK(json_array_size(changes) == 2);
  char *text = json_dumps(changes, JSON_COMPACT);
  CHECK(strstr(text, "\"old\":\"Ann\"") && strstr(text, "\"new\":\"Bea\""));
  CHECK(!strstr(text, "private") && !strstr(text, "secret") && strstr(text, "\"note\""));
  free(text);
  json_decref(changes);
  json_decref(after);
  json_decref(before);
}

static void test_utf8_validation(void) {
  CHECK(utf8_is_valid("abc", 3));
  CHECK(utf8_is_valid("\xc3\xa9", 2));
  CHECK(!utf8_is_valid("\xc3", 1));          /* truncated */
  CHECK(!utf8_is_valid("\xc0\xaf", 2));      /* overlong */
  CHECK(!utf8_is_valid("\xed\xa0\x80", 3));  /* surrogate */
  CHECK(!utf8_is_valid("\xff", 1));
  CHECK(text_is_uuid("3f0c2a44-8d5e-4b8a-9d57-1f6c1b0e2a11"));
  CHECK(!text_is_uuid("3f0c2a44-8d5e-4b8a-9d57-1f6c1b0e2a1g"));
  CHECK(text_is_date("2000-02-29") && !text_is_date("1900-02-29") && !text_is_date("2026-13-01"));
}

static const struct field_spec ITEM[] = {
    {.name = "age", .kind = FIELD_INTEGER, .flags = FIELD_REQUIRED, .min_len = 0, .max_len = 17},
    {.name = "school", .kind = FIELD_STRING, .flags = FIELD_NULLABLE, .min_len = 1, .max_len = 9},
    {0}};
static const struct field_spec LIST[] = {
    {.name = "items", .kind = FIELD_OBJECT_ARRAY, .flags = FIELD_REQUIRED, .min_len = 0,
     .max_len = 2, .members = ITEM},
    {0}};

static struct field_errors run_list(const char *json, enum validate_mode mode) {
  struct field_errors errors = {0};
  json_t *object = json_loads(json, 0, NULL);
  fields_validate(object, LIST, mode, "", &errors);
  json_decref(object);
  return errors;
}

static void test_integers_are_whole_numbers_in_range(void) {
  CHECK(run_list("{\"items\":[{\"age\":0},{\"age\":17}]}", VALIDATE_CREATE).count == 0);
  struct field_errors e =
      run_list("{\"items\":[{\"age\":18},{\"age\":-1}]}", VALIDATE_CREATE);
  CHECK(has(&e, "/items/0/age") && has(&e, "/items/1/age") && e.count == 2);
  e = run_list("{\"items\":[{\"age\":7.0},{\"age\":\"7\"}]}", VALIDATE_CREATE);
  CHECK(has(&e, "/items/0/age") && has(&e, "/items/1/age"));
  e = run_list("{\"items\":[{\"age\":true}]}", VALIDATE_CREATE);
  CHECK(has(&e, "/items/0/age"));
}

static void test_object_arrays_check_each_item_whole(void) {
  /* Even in a patch an item is complete: a patch replaces the whole array. */
  struct field_errors e =
      run_list("{\"items\":[{\"school\":\"Park\"},3,{\"age\":1,\"x\":1}]}", VALIDATE_PATCH);
  CHECK(has(&e, "/items") && e.count == 1); /* too many items: the items are not looked at */
  e = run_list("{\"items\":[{\"school\":\"Park\"},3]}", VALIDATE_PATCH);
  CHECK(has(&e, "/items/0/age")); /* required in an item */
  CHECK(has(&e, "/items/1"));     /* not an object */
  CHECK(e.count == 2);
  e = run_list("{\"items\":{\"age\":1}}", VALIDATE_CREATE);
  CHECK(has(&e, "/items"));
  json_t *before = json_loads("{\"items\":[{\"age\":1}]}", 0, NULL);
  json_t *after = json_loads("{\"items\":[{\"age\":2}]}", 0, NULL);
  json_t *changes = fields_changes_new(before, after, LIST);
  /* Like objects and text, an item's values can be clinical: only the member is named. */
  CHECK(json_array_size(changes) == 1 &&
        !json_object_get(json_array_get(changes, 0), "old"));
  json_decref(changes);
  json_decref(after);
  json_decref(before);
}

int main(void) {
  test_valid_create_passes();
  test_every_problem_is_reported_at_once();
  test_lengths_count_characters_not_bytes();
  test_control_characters_refused_except_layout_in_text();
  test_patch_refuses_immutable_and_removing_required();
  test_nested_objects_partial_in_patch_complete_after_merge();
  test_merge_patch_follows_rfc7396();
  test_changes_hide_free_text_values();
  test_utf8_validation();
  test_integers_are_whole_numbers_in_range();
  test_object_arrays_check_each_item_whole();
  return checks_report();
}
