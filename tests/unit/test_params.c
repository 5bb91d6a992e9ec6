/* Query parameters and If-Match read as text (service/http/params.c). */
#include "check.h"
#include "http/params.h"

static void test_limit_is_a_whole_number_from_1_to_the_maximum(void) {
  int limit = 0;
  CHECK(param_limit_parse("1", &limit) && limit == 1);
  CHECK(param_limit_parse("200", &limit) && limit == LIMIT_MAX);
  limit = 7;
  CHECK(!param_limit_parse("0", &limit) && limit == 7);
  CHECK(!param_limit_parse("201", &limit));
  CHECK(!param_limit_parse("", &limit));
  CHECK(!param_limit_parse("5x", &limit));
  CHECK(!param_limit_parse("99999999999999999999999", &limit));
}

static void test_text_filter_is_1_to_max_characters_of_utf8(void) {
  CHECK(param_text_is_acceptable("Caf\xc3\xa9", 4));
  CHECK(!param_text_is_acceptable("Caf\xc3\xa9", 3));
  CHECK(!param_text_is_acceptable("", 10));
  CHECK(!param_text_is_acceptable("\xc0\xaf", 10)); /* overlong '/' */
}

static void test_if_match_is_a_strong_etag_of_a_version(void) {
  long version = 0;
  CHECK(param_if_match_parse("\"3\"", &version) && version == 3);
  CHECK(!param_if_match_parse("W/\"3\"", &version));
  CHECK(!param_if_match_parse("*", &version));
  CHECK(!param_if_match_parse("\"0\"", &version));
  CHECK(!param_if_match_parse("\"3\", \"4\"", &version));
  CHECK(!param_if_match_parse("\"\"", &version));
}

int main(void) {
  test_limit_is_a_whole_number_from_1_to_the_maximum();
  test_text_filter_is_1_to_max_characters_of_utf8();
  test_if_match_is_a_strong_etag_of_a_version();
  return checks_report();
}
