/* The structural diff of care-plan versions (service/json_diff.c). The input is JSON text: an
 * array [before, after] (anything else is diffed against itself and against null).
 *
 * Properties: a document differs from itself in nothing; each change's path resolves (RFC 6901)
 * in `before` to its "old" value and in `after` to its "new" value, and an absent side does not
 * resolve; the diff the other way round has as many changes, with the paths in the same order. */
#include <ctype.h>
#include <stdbool.h>

#include "fuzz.h"
#include "json_diff.h"

/* The value at an RFC 6901 pointer, or NULL. */
static const json_t *resolve(const json_t *doc, const char *pointer) {
  if (*pointer == '\0') return doc ? doc : json_null();
  if (*pointer != '/') return NULL;
  size_t cap = strlen(pointer) + 1;
  char *token = malloc(cap);
  if (!token) abort();
  const json_t *at = doc;
  for (const char *p = pointer; at && *p == '/';) {
    size_t n = 0;
    for (p++; *p && *p != '/'; p++) {
      if (*p == '~' && (p[1] == '0' || p[1] == '1')) {
        token[n++] = p[1] == '0' ? '~' : '/';
        p++;
      } else {
        token[n++] = *p;
      }
    }
    token[n] = '\0';
    if (json_is_object(at)) {
      at = json_object_get(at, token);
    } else if (json_is_array(at)) {
      bool digits = n > 0 && (n == 1 || token[0] != '0');
      for (size_t i = 0; i < n; i++) digits = digits && isdigit((unsigned char)token[i]);
      at = digits && n < 10 ? json_array_get(at, strtoul(token, NULL, 10)) : NULL;
    } else {
      at = NULL;
    }
  }
  free(token);
  return at;
}

/* The changes from before to after (a new reference), each checked. */
static json_t *check_diff_new(const json_t *before, const json_t *after) {
  json_t *changes = json_diff_new(before, after);
  FUZZ_REQUIRE(json_is_array(changes));
  size_t i;
  json_t *change;
  json_array_foreach(changes, i, change) {
    const char *path = json_string_value(json_object_get(change, "path"));
    FUZZ_REQUIRE(path);
    const json_t *old_value = json_object_get(change, "old");
    const json_t *new_value = json_object_get(change, "new");
    FUZZ_REQUIRE(old_value || new_value);
    const json_t *in_before = resolve(before, path), *in_after = resolve(after, path);
    FUZZ_REQUIRE(old_value ? in_before && json_equal(in_before, old_value) : !in_before);
    FUZZ_REQUIRE(new_value ? in_after && json_equal(in_after, new_value) : !in_after);
  }
  return changes;
}

static void check_both_ways(const json_t *before, const json_t *after) {
  json_t *forward = check_diff_new(before, after), *backward = check_diff_new(after, before);
  FUZZ_REQUIRE(json_array_size(forward) == json_array_size(backward));
  for (size_t i = 0; i < json_array_size(forward); i++)
    FUZZ_REQUIRE(json_equal(json_object_get(json_array_get(forward, i), "path"),
                            json_object_get(json_array_get(backward, i), "path")));
  json_decref(forward);
  json_decref(backward);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_t *input = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
  if (!input) return 0;
  json_t *same = json_diff_new(input, input);
  FUZZ_REQUIRE(json_is_array(same) && json_array_size(same) == 0);
  json_decref(same);
  if (json_is_array(input) && json_array_size(input) == 2) {
    const json_t *before = json_array_get(input, 0), *after = json_array_get(input, 1);
    check_both_ways(before, after);
  } else {
    check_both_ways(input, NULL);
  }
  json_decref(input);
  return 0;
}
