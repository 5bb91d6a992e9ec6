/* Request bodies as the server reads them (service/http/body.c): the nesting-depth limit
 * applied to raw text before parsing, then Jansson with duplicate members refused; and the
 * Content-Type check. The input is the body (its first line also serves as a Content-Type).
 *
 * Properties:
 * - json_text_depth equals the depth of the parsed value for any valid JSON text, so that the
 *   limit means what it says;
 * - BODY_OK gives an object no deeper than BODY_MAX_DEPTH, anything else no value;
 * - a body refused as too deep is not one Jansson would have read as within the limit. */
#include "fuzz.h"
#include "http/body.h"

static int value_depth(const json_t *value) {
  int deepest = 0;
  if (json_is_object(value)) {
    const char *key;
    json_t *member;
    json_object_foreach((json_t *)value, key, member) {
      int d = value_depth(member);
      if (d > deepest) deepest = d;
    }
    return deepest + 1;
  }
  if (json_is_array(value)) {
    size_t i;
    json_t *item;
    json_array_foreach(value, i, item) {
      int d = value_depth(item);
      if (d > deepest) deepest = d;
    }
    return deepest + 1;
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  int depth = json_text_depth(text, size);
  FUZZ_REQUIRE(depth >= 0);

  /* Duplicates refused here too: Jansson would otherwise keep only the last of them, and the
   * text of the others would count in the depth of the text but not of the value. */
  json_t *any = json_loadb(text, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
  if (any) FUZZ_REQUIRE(value_depth(any) == depth);

  json_t *body = NULL;
  json_error_t error;
  enum body_result result = body_parse_object(text, size, &body, &error);
  switch (result) {
  case BODY_OK:
    FUZZ_REQUIRE(json_is_object(body) && value_depth(body) <= BODY_MAX_DEPTH);
    FUZZ_REQUIRE(any && json_equal(any, body));
    break;
  case BODY_EMPTY:
    FUZZ_REQUIRE(size == 0 && !body);
    break;
  case BODY_TOO_DEEP:
    FUZZ_REQUIRE(!body && depth > BODY_MAX_DEPTH);
    FUZZ_REQUIRE(!any || value_depth(any) > BODY_MAX_DEPTH);
    break;
  case BODY_INVALID:
  case BODY_NOT_OBJECT:
    FUZZ_REQUIRE(!body);
    break;
  }
  json_decref(body);
  json_decref(any);

  char *type = fuzz_text_new(data, size);
  type[strcspn(type, "\n")] = '\0';
  (void)media_type_is(type, "application/json");
  (void)media_type_is(type, "application/merge-patch+json");
  free(type);
  return 0;
}
