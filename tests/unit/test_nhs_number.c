#include "check.h"
#include "rules/nhs_number.h"

static void test_known_valid_numbers_pass(void) {
  CHECK(nhs_number_is_valid("9434765919")); /* NHS Digital's published example */
  CHECK(nhs_number_is_valid("4010232137"));
}

static void test_wrong_check_digit_fails(void) {
  CHECK(!nhs_number_is_valid("9434765918"));
  CHECK(!nhs_number_is_valid("4010232138"));
}

static void test_check_digit_ten_is_never_valid(void) {
  /* 1000000010: weights give sum 10+... find a stem whose remainder yields 10 */
  int found = 0;
  char stem[10] = "000000000";
  for (int i = 0; i < 1000 && !found; i++) {
    snprintf(stem, sizeof stem, "%09d", i);
    if (nhs_number_check_digit(stem) == -1) {
      found = 1;
      for (char d = '0'; d <= '9'; d++) {
        char number[11];
        snprintf(number, sizeof number, "%s%c", stem, d);
        CHECK(!nhs_number_is_valid(number));
      }
    }
  }
  CHECK(found);
}

static void test_remainder_zero_gives_check_digit_zero(void) {
  /* 11 - 0 = 11 maps to 0: the all-zero stem */
  CHECK(nhs_number_check_digit("000000000") == 0);
  CHECK(nhs_number_is_valid("0000000000"));
}

static void test_shape_is_enforced(void) {
  CHECK(!nhs_number_is_valid(NULL));
  CHECK(!nhs_number_is_valid(""));
  CHECK(!nhs_number_is_valid("943476591"));    /* 9 digits */
  CHECK(!nhs_number_is_valid("94347659190"));  /* 11 digits */
  CHECK(!nhs_number_is_valid("943 476 5919")); /* spaces */
  CHECK(!nhs_number_is_valid("94347659a9"));
  CHECK(!nhs_number_is_valid("-434765919"));
}

int main(void) {
  test_known_valid_numbers_pass();
  test_wrong_check_digit_fails();
  test_check_digit_ten_is_never_valid();
  test_remainder_zero_gives_check_digit_zero();
  test_shape_is_enforced();
  return checks_report();
}
