/* The structural diff behind care-plan version comparisons (R-CPL-3): every change and nothing
 * else, at RFC 6901 paths, in an order that does not depend on member insertion order; null is
 * a value, not an absence. */
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>

#include "check.h"
#include "json_diff.h"

static json_t *parse(const char *text) {
  json_error_t error;
  json_t *value = json_loads(text, JSON_DECODE_ANY, &error);
  if (!value) fprintf(stderr, "bad test JSON: %s: %s\n", text, error.text);
  return value;
}

/* Checks that diff(before, after) is exactly `expected` (JSON text); json_equal compares arrays
 * item by item, so this checks the order of the changes too. */
static void check_diff(const json_t *before, const json_t *after, const char *expected,
                       int line) {
  json_t *want = parse(expected);
  json_t *got = json_diff_new(before, after);
  bool ok = want && got && json_equal(got, want);
  if (!ok) {
    char *text = got ? json_dumps(got, JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    fprintf(stderr, "line %d: got %s\n      want %s\n", line, text ? text : "(null)", expected);
    free(text);
  }
  CHECK(ok);
  json_decref(want);
  json_decref(got);
}

static void check_diff_text(const char *before, const char *after, const char *expected,
                            int line) {
  json_t *b = parse(before), *a = parse(after);
  CHECK(b && a);
  check_diff(b, a, expected, line);
  json_decref(b);
  json_decref(a);
}
#define CHECK_DIFF(before, after, expected) check_diff_text(before, after, expected, __LINE__)

static void test_identical_documents_have_no_changes(void) {
  CHECK_DIFF("{}", "{}", "[]");
  CHECK_DIFF("[]", "[]", "[]");
  CHECK_DIFF("null", "null", "[]");
  CHECK_DIFF("{\"goals\":[{\"text\":\"sleep\",\"by\":\"2026-06-01\"}],\"crisis\":{\"a\":null}}",
             "{\"crisis\":{\"a\":null},\"goals\":[{\"by\":\"2026-06-01\",\"text\":\"sleep\"}]}",
             "[]");
}

static void test_scalar_changes(void) {
  CHECK_DIFF("{\"a\":1}", "{\"a\":2}", "[{\"path\":\"/a\",\"old\":1,\"new\":2}]");
  CHECK_DIFF("{\"a\":\"x\"}", "{\"a\":\"y\"}", "[{\"path\":\"/a\",\"old\":\"x\",\"new\":\"y\"}]");
  CHECK_DIFF("{\"a\":true}", "{\"a\":false}",
             "[{\"path\":\"/a\",\"old\":true,\"new\":false}]");
  /* an integer and a real are different types, even of equal value */
  CHECK_DIFF("{\"a\":1}", "{\"a\":1.0}", "[{\"path\":\"/a\",\"old\":1,\"new\":1.0}]");
  /* the whole document is at path "" */
  CHECK_DIFF("1", "2", "[{\"path\":\"\",\"old\":1,\"new\":2}]");
}

static void test_nested_members_added_removed_changed(void) {
  CHECK_DIFF("{\"crisis\":{\"contact\":\"GP\"}}",
             "{\"crisis\":{\"contact\":\"GP\",\"phone\":\"0123\"}}",
             "[{\"path\":\"/crisis/phone\",\"new\":\"0123\"}]");
  CHECK_DIFF("{\"crisis\":{\"contact\":\"GP\",\"phone\":\"0123\"}}",
             "{\"crisis\":{\"contact\":\"GP\"}}",
             "[{\"path\":\"/crisis/phone\",\"old\":\"0123\"}]");
  CHECK_DIFF("{\"crisis\":{\"contact\":\"GP\",\"phone\":\"0123\"}}",
             "{\"crisis\":{\"contact\":\"CRHT\",\"phone\":\"0123\"}}",
             "[{\"path\":\"/crisis/contact\",\"old\":\"GP\",\"new\":\"CRHT\"}]");
  /* a whole object added or removed is one change carrying all of it */
  CHECK_DIFF("{}", "{\"contingency\":{\"who\":\"duty\"}}",
             "[{\"path\":\"/contingency\",\"new\":{\"who\":\"duty\"}}]");
  CHECK_DIFF("{\"contingency\":{\"who\":\"duty\"}}", "{}",
             "[{\"path\":\"/contingency\",\"old\":{\"who\":\"duty\"}}]");
}

static void test_arrays_grow_shrink_and_change(void) {
  CHECK_DIFF("{\"g\":[1,2]}", "{\"g\":[1,2,3,4]}",
             "[{\"path\":\"/g/2\",\"new\":3},{\"path\":\"/g/3\",\"new\":4}]");
  CHECK_DIFF("{\"g\":[1,2,3]}", "{\"g\":[1]}",
             "[{\"path\":\"/g/1\",\"old\":2},{\"path\":\"/g/2\",\"old\":3}]");
  CHECK_DIFF("{\"g\":[1,2,3]}", "{\"g\":[1,9,3]}", "[{\"path\":\"/g/1\",\"old\":2,\"new\":9}]");
  CHECK_DIFF("[{\"t\":\"a\",\"n\":1},{\"t\":\"b\"}]", "[{\"t\":\"a\",\"n\":2},{\"t\":\"c\"}]",
             "[{\"path\":\"/0/n\",\"old\":1,\"new\":2},"
             "{\"path\":\"/1/t\",\"old\":\"b\",\"new\":\"c\"}]");
  CHECK_DIFF("[]", "[[]]", "[{\"path\":\"/0\",\"new\":[]}]");
  /* index by index: an item inserted at the front shows as every later item changed */
  CHECK_DIFF("[\"b\",\"c\"]", "[\"a\",\"b\",\"c\"]",
             "[{\"path\":\"/0\",\"old\":\"b\",\"new\":\"a\"},"
             "{\"path\":\"/1\",\"old\":\"c\",\"new\":\"b\"},{\"path\":\"/2\",\"new\":\"c\"}]");
}

static void test_type_changes_are_one_change(void) {
  CHECK_DIFF("{\"a\":{\"b\":1}}", "{\"a\":\"none\"}",
             "[{\"path\":\"/a\",\"old\":{\"b\":1},\"new\":\"none\"}]");
  CHECK_DIFF("{\"a\":[1]}", "{\"a\":{\"0\":1}}",
             "[{\"path\":\"/a\",\"old\":[1],\"new\":{\"0\":1}}]");
  CHECK_DIFF("{\"a\":\"1\"}", "{\"a\":1}", "[{\"path\":\"/a\",\"old\":\"1\",\"new\":1}]");
  CHECK_DIFF("{}", "[]", "[{\"path\":\"\",\"old\":{},\"new\":[]}]");
}

static void test_keys_are_escaped_as_rfc_6901_says(void) {
  CHECK_DIFF("{\"a/b\":1,\"m~n\":1,\"~1\":1,\"\":1}", "{\"a/b\":2,\"m~n\":2,\"~1\":2,\"\":2}",
             "[{\"path\":\"/\",\"old\":1,\"new\":2},"
             "{\"path\":\"/a~1b\",\"old\":1,\"new\":2},"
             "{\"path\":\"/m~0n\",\"old\":1,\"new\":2},"
             "{\"path\":\"/~01\",\"old\":1,\"new\":2}]");
  CHECK_DIFF("{\"x\":{\"/\":{\"~\":1}}}", "{\"x\":{\"/\":{\"~\":2}}}",
             "[{\"path\":\"/x/~1/~0\",\"old\":1,\"new\":2}]");
  /* UTF-8 keys pass through unescaped */
  CHECK_DIFF("{\"caf\\u00e9\":1}", "{\"caf\\u00e9\":2}",
             "[{\"path\":\"/caf\\u00e9\",\"old\":1,\"new\":2}]");
}

static void test_keys_with_nul_are_kept_whole(void) {
  /* Jansson keys may hold NUL (json_object_setn; the parser refuses them): "a\0b" and "a" are
   * different members, and the path keeps all of the key */
  json_t *before = json_object(), *after = json_object();
  json_object_setn_new(before, "a\0b", 3, json_integer(1));
  json_object_set_new(before, "a", json_integer(1));
  json_object_set_new(after, "a", json_integer(1));
  json_object_setn_new(after, "a\0b", 3, json_integer(2));
  json_t *d = json_diff_new(before, after);
  json_t *path = json_object_get(json_array_get(d, 0), "path");
  CHECK(json_array_size(d) == 1 && json_string_length(path) == 4 &&
        memcmp(json_string_value(path), "/a\0b", 4) == 0);
  json_decref(d);
  json_decref(before);
  json_decref(after);
}

static void test_order_does_not_depend_on_insertion_order(void) {
  json_t *before1 = json_object(), *after1 = json_object();
  json_t *before2 = json_object(), *after2 = json_object();
  const char *keys[] = {"zeta", "alpha", "mid", "beta"};
  for (int i = 0; i < 4; i++) { /* forwards in one pair, backwards in the other */
    json_object_set_new(before1, keys[i], json_integer(i));
    json_object_set_new(before2, keys[3 - i], json_integer(3 - i));
  }
  json_object_set_new(after1, "beta", json_integer(30)); /* alpha, mid, zeta removed */
  json_object_set_new(after1, "new", json_true());
  json_object_set_new(after2, "new", json_true());
  json_object_set_new(after2, "beta", json_integer(30));
  const char *expected = "[{\"path\":\"/alpha\",\"old\":1},"
                         "{\"path\":\"/beta\",\"old\":3,\"new\":30},"
                         "{\"path\":\"/mid\",\"old\":2},{\"path\":\"/new\",\"new\":true},"
                         "{\"path\":\"/zeta\",\"old\":0}]";
  check_diff(before1, after1, expected, __LINE__);
  check_diff(before2, after2, expected, __LINE__);
  check_diff(before1, after2, expected, __LINE__);
  json_decref(before1);
  json_decref(after1);
  json_decref(before2);
  json_decref(after2);
  /* depth-first: a nested member's changes come before the next sibling's */
  CHECK_DIFF("{\"b\":1,\"a\":{\"y\":1,\"x\":1}}", "{\"a\":{\"x\":2,\"y\":2},\"b\":2}",
             "[{\"path\":\"/a/x\",\"old\":1,\"new\":2},{\"path\":\"/a/y\",\"old\":1,\"new\":2},"
             "{\"path\":\"/b\",\"old\":1,\"new\":2}]");
}

static void test_null_is_a_value_not_an_absence(void) {
  CHECK_DIFF("{\"a\":null}", "{}", "[{\"path\":\"/a\",\"old\":null}]");
  CHECK_DIFF("{}", "{\"a\":null}", "[{\"path\":\"/a\",\"new\":null}]");
  CHECK_DIFF("{\"a\":null}", "{\"a\":0}", "[{\"path\":\"/a\",\"old\":null,\"new\":0}]");
  CHECK_DIFF("[null]", "[]", "[{\"path\":\"/0\",\"old\":null}]");
  /* a removal has "old" and no "new"; an addition the reverse */
  json_t *b = parse("{\"a\":null}"), *a = parse("{}");
  json_t *d = json_diff_new(b, a);
  json_t *change = json_array_get(d, 0);
  CHECK(json_array_size(d) == 1 && json_object_get(change, "old") &&
        !json_object_get(change, "new"));
  json_decref(d);
  json_decref(b);
  json_decref(a);
}

static void test_null_arguments_count_as_json_null(void) {
  json_t *one = json_integer(1), *null = json_null();
  check_diff(NULL, NULL, "[]", __LINE__);
  check_diff(NULL, null, "[]", __LINE__);
  check_diff(NULL, one, "[{\"path\":\"\",\"old\":null,\"new\":1}]", __LINE__);
  check_diff(one, NULL, "[{\"path\":\"\",\"old\":1,\"new\":null}]", __LINE__);
  json_decref(one);
}

static void test_values_are_copies(void) {
  json_t *b = parse("{\"a\":{\"x\":[1]}}"), *a = parse("{}");
  char *before_text = json_dumps(b, JSON_SORT_KEYS);
  json_t *d = json_diff_new(b, a);
  json_t *old = json_object_get(json_array_get(d, 0), "old");
  CHECK(old && old != json_object_get(b, "a"));
  json_array_append_new(json_object_get(old, "x"), json_integer(2)); /* changing the diff... */
  char *after_text = json_dumps(b, JSON_SORT_KEYS);
  CHECK_STR(after_text, before_text); /* ...leaves the input alone */
  free(before_text);
  free(after_text);
  json_decref(d);
  json_decref(b);
  json_decref(a);
}

static void test_a_large_document(void) {
  /* 200 goals of 5 members; every 10th goal's status changes, every 25th loses its review
   * date, and 20 goals are added: 20 + 8 + 20 changes, in index then key order */
  json_t *before = json_object(), *after = json_object();
  json_t *goals_before = json_array(), *goals_after = json_array();
  for (int i = 0; i < 220; i++) {
    char text[32];
    snprintf(text, sizeof text, "goal %d", i);
    json_t *g = json_pack("{s:i, s:s, s:s, s:s, s:[i,i]}", "id", i, "text", text, "status",
                          "open", "review", "2026-06-01", "owners", i, i + 1);
    json_t *h = json_deep_copy(g);
    if (i % 10 == 0) json_object_set_new(h, "status", json_string("met"));
    if (i % 25 == 0) json_object_del(h, "review");
    if (i < 200) json_array_append(goals_before, g);
    json_array_append(goals_after, i < 200 ? h : g);
    json_decref(g);
    json_decref(h);
  }
  json_object_set_new(before, "goals", goals_before);
  json_object_set_new(after, "goals", goals_after);
  json_t *d = json_diff_new(before, after);
  CHECK(json_array_size(d) == 48);
  CHECK_STR(json_string_value(json_object_get(json_array_get(d, 0), "path")),
            "/goals/0/review");
  CHECK_STR(json_string_value(json_object_get(json_array_get(d, 1), "path")),
            "/goals/0/status");
  CHECK_STR(json_string_value(json_object_get(json_array_get(d, 2), "path")),
            "/goals/10/status");
  CHECK_STR(json_string_value(json_object_get(json_array_get(d, 27), "path")),
            "/goals/190/status");
  CHECK_STR(json_string_value(json_object_get(json_array_get(d, 28), "path")), "/goals/200");
  CHECK_STR(json_string_value(json_object_get(json_array_get(d, 47), "path")), "/goals/219");
  json_t *reversed = json_diff_new(after, before);
  CHECK(json_array_size(reversed) == 48);
  json_decref(reversed);
  json_decref(d);
  json_decref(before);
  json_decref(after);
}

int main(void) {
  test_identical_documents_have_no_changes();
  test_scalar_changes();
  test_nested_members_added_removed_changed();
  test_arrays_grow_shrink_and_change();
  test_type_changes_are_one_change();
  test_keys_are_escaped_as_rfc_6901_says();
  test_keys_with_nul_are_kept_whole();
  test_order_does_not_depend_on_insertion_order();
  test_null_is_a_value_not_an_absence();
  test_null_arguments_count_as_json_null();
  test_values_are_copies();
  test_a_large_document();
  return checks_report();
}
