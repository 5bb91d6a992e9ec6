/* Request bodies (service/http/body.c): the nesting limit read from the raw text, the JSON
 * object requirement, and the Content-Type check. */
#include <stdlib.h>

#include "check.h"
#include "http/body.h"

/* {"a":[[...]]} nested depth deep. Caller frees. */
static char *nested_new(int depth) {
  char *text = malloc((size_t)depth * 2 + 8);
  int n = 0;
  text[n++] = '{';
  text[n++] = '"';
  text[n++] = 'a';
  text[n++] = '"';
  text[n++] = ':';
  for (int i = 1; i < depth; i++) text[n++] = '[';
  for (int i = 1; i < depth; i++) text[n++] = ']';
  text[n++] = '}';
  text[n] = '\0';
  return text;
}

static void test_depth_counts_brackets_outside_strings_only(void) {
  CHECK(json_text_depth("1", 1) == 0);
  CHECK(json_text_depth("{}", 2) == 1);
  CHECK(json_text_depth("[[],[[]]]", 9) == 3);
  const char *text = "{\"a\":\"[[[{\\\"\\\\\",\"b\":[]}";
  CHECK(json_text_depth(text, strlen(text)) == 2);
}

static void test_body_at_the_depth_limit_is_read_and_one_deeper_refused(void) {
  json_t *body = NULL;
  json_error_t error;
  char *at_limit = nested_new(BODY_MAX_DEPTH);
  CHECK(json_text_depth(at_limit, strlen(at_limit)) == BODY_MAX_DEPTH);
  CHECK(body_parse_object(at_limit, strlen(at_limit), &body, &error) == BODY_OK);
  CHECK(json_is_object(body));
  json_decref(body);
  char *deeper = nested_new(BODY_MAX_DEPTH + 1);
  CHECK(body_parse_object(deeper, strlen(deeper), &body, &error) == BODY_TOO_DEEP && !body);
  free(at_limit);
  free(deeper);
}

static void test_body_must_be_one_object_without_duplicates(void) {
  json_t *body = (json_t *)1;
  json_error_t error;
  CHECK(body_parse_object("", 0, &body, &error) == BODY_EMPTY && !body);
  CHECK(body_parse_object("[1]", 3, &body, &error) == BODY_NOT_OBJECT && !body);
  CHECK(body_parse_object("{\"a\":1,\"a\":2}", 13, &body, &error) == BODY_INVALID && !body);
  CHECK(body_parse_object("{\"a\":1} x", 9, &body, &error) == BODY_INVALID && !body);
  CHECK(body_parse_object("{\"a\":1}", 7, &body, &error) == BODY_OK);
  json_decref(body);
}

static void test_media_type_admits_only_a_utf8_charset(void) {
  CHECK(media_type_is("application/json", "application/json"));
  CHECK(media_type_is("Application/JSON ; charset=\"UTF-8\"", "application/json"));
  CHECK(!media_type_is("application/json; charset=latin1", "application/json"));
  CHECK(!media_type_is("application/jsonx", "application/json"));
  CHECK(!media_type_is("application/js", "application/json"));
}

int main(void) {
  test_depth_counts_brackets_outside_strings_only();
  test_body_at_the_depth_limit_is_read_and_one_deeper_refused();
  test_body_must_be_one_object_without_duplicates();
  test_media_type_admits_only_a_utf8_charset();
  return checks_report();
}
