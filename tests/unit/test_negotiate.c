#include "check.h"
#include "http/negotiate.h"

static const char *const OFFERS[] = {"application/x-ndjson", "text/csv", "application/json"};

static int pick(const char *accept) { return negotiate_media_type(accept, OFFERS, 3); }

static void test_no_accept_gets_the_first_offer(void) {
  CHECK(pick(NULL) == 0);
  CHECK(pick("") == 0);
  CHECK(pick("  ") == 0);
}

static void test_exact_and_wildcard_ranges_match(void) {
  CHECK(pick("text/csv") == 1);
  CHECK(pick("TEXT/CSV; charset=utf-8") == 1);
  CHECK(pick("application/json") == 2);
  CHECK(pick("application/x-ndjson") == 0);
  CHECK(pick("*/*") == 0);
  CHECK(pick("text/*") == 1);
  CHECK(pick("application/*") == 0);
}

static void test_quality_decides_and_ties_go_to_the_earlier_offer(void) {
  CHECK(pick("application/x-ndjson;q=0.5, text/csv") == 1);
  CHECK(pick("text/csv;q=0.9, */*;q=0.1") == 1);
  CHECK(pick("text/csv, application/x-ndjson") == 0);
  /* The most specific range sets an offer's q: csv refused, everything else welcome. */
  CHECK(pick("text/csv;q=0, */*") == 0);
  CHECK(pick("application/x-ndjson;q=0, application/json;q=0, */*") == 1);
}

static void test_unacceptable_headers_get_none(void) {
  CHECK(pick("text/html") == -1);
  CHECK(pick("application/xml, image/png") == -1);
  CHECK(pick("text/csv;q=0") == -1);
  CHECK(pick("*/*;q=0") == -1);
  CHECK(pick("text/csv;q=2") == -1);
}

int main(void) {
  test_no_accept_gets_the_first_offer();
  test_exact_and_wildcard_ranges_match();
  test_quality_decides_and_ties_go_to_the_earlier_offer();
  test_unacceptable_headers_get_none();
  return checks_report();
}
