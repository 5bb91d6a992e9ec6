#include <jansson.h>
#include <stdlib.h>

#include "check.h"
#include "http/problem.h"

static void test_problem_has_rfc9457_members(void) {
  json_t *p = problem_new(CC_NOT_FOUND, "No team has this id.", "/teams/x", "req-1", NULL);
  CHECK_STR(json_string_value(json_object_get(p, "type")), "urn:carecoord:problem:not-found");
  CHECK_STR(json_string_value(json_object_get(p, "title")), "Not found");
  CHECK(json_integer_value(json_object_get(p, "status")) == 404);
  CHECK_STR(json_string_value(json_object_get(p, "detail")), "No team has this id.");
  CHECK_STR(json_string_value(json_object_get(p, "instance")), "/teams/x");
  CHECK_STR(json_string_value(json_object_get(p, "request_id")), "req-1");
  CHECK(json_object_get(p, "errors") == NULL);
  json_decref(p);
}

static void test_missing_detail_falls_back_to_title(void) {
  json_t *p = problem_new(CC_UNAVAILABLE, NULL, NULL, NULL, NULL);
  CHECK(json_integer_value(json_object_get(p, "status")) == 503);
  CHECK_STR(json_string_value(json_object_get(p, "detail")), "Service temporarily unavailable");
  CHECK(json_object_get(p, "instance") == NULL);
  json_decref(p);
}

static void test_validation_lists_every_field_with_rule(void) {
  struct field_errors errors = {0};
  field_errors_add(&errors, "/nhs_number", NULL, "must be %d digits", 10);
  field_errors_add(&errors, "/risk", "R-ASM-2", "is required");
  json_t *p = problem_new(CC_VALIDATION, "2 fields failed validation", "/x", "r", &errors);
  CHECK(json_integer_value(json_object_get(p, "status")) == 422);
  json_t *list = json_object_get(p, "errors");
  CHECK(json_array_size(list) == 2);
  CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "field")), "/nhs_number");
  CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "reason")), "must be 10 digits");
  CHECK(json_object_get(json_array_get(list, 0), "rule") == NULL);
  CHECK_STR(json_string_value(json_object_get(json_array_get(list, 1), "rule")), "R-ASM-2");
  json_decref(p);
}

static void test_every_status_maps_to_a_client_or_server_error(void) {
  for (int s = CC_BAD_REQUEST; s < CC_STATUS_COUNT; s++) {
    const struct cc_status_info *info = cc_status_info((enum cc_status)s);
    CHECK(info->slug && info->title && info->http_status >= 400 && info->http_status < 600);
  }
  CHECK(cc_status_info((enum cc_status)999)->http_status == 500);
}

static void test_error_list_is_bounded(void) {
  struct field_errors errors = {0};
  for (int i = 0; i < FIELD_ERRORS_MAX + 10; i++) field_errors_add(&errors, "/f", NULL, "bad");
  CHECK(errors.count == FIELD_ERRORS_MAX);
}

int main(void) {
  test_problem_has_rfc9457_members();
  test_missing_detail_falls_back_to_title();
  test_validation_lists_every_field_with_rule();
  test_every_status_maps_to_a_client_or_server_error();
  test_error_list_is_bounded();
  return checks_report();
}
