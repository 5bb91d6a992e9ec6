/* Report periods (calendar months, the end-of-month day, at most 12 months, never beyond the
 * current month) and the suppression of small numbers in the reporting role's output. */
#include "check.h"
#include "rules/report_rules.h"

static void test_months_parse_exactly(void) {
  struct report_month m = {0, 0};
  CHECK(report_month_parse("2026-02", &m) && m.year == 2026 && m.month == 2);
  const char *bad[] = {"2026-2", "2026-13", "2026-00", "1999-12", "2026/02", "2026-02-01",
                       "20x6-01", "", NULL};
  for (int i = 0; i < (int)(sizeof bad / sizeof *bad); i++) {
    struct report_month unchanged = {7, 7};
    CHECK(!report_month_parse(bad[i], &unchanged) && unchanged.year == 7);
  }
  char text[REPORT_MONTH_TEXT_LEN];
  report_month_format((struct report_month){2026, 3}, text);
  CHECK_STR(text, "2026-03");
}

static void test_month_arithmetic_crosses_years(void) {
  struct report_month m = report_month_add((struct report_month){2026, 11}, 3);
  CHECK(m.year == 2027 && m.month == 2);
  m = report_month_add((struct report_month){2026, 1}, -1);
  CHECK(m.year == 2025 && m.month == 12);
  CHECK(report_month_count((struct report_month){2025, 12}, (struct report_month){2026, 11}) == 12);
  CHECK(report_month_count((struct report_month){2026, 5}, (struct report_month){2026, 5}) == 1);
  m = report_month_of("2024-02-29");
  CHECK(m.year == 2024 && m.month == 2);
}

static void test_snapshot_is_the_last_day_or_today(void) {
  char day[11];
  report_snapshot_day((struct report_month){2026, 2}, "2026-12-01", day);
  CHECK_STR(day, "2026-02-28");
  report_snapshot_day((struct report_month){2028, 2}, "2028-12-01", day);
  CHECK_STR(day, "2028-02-29");
  report_snapshot_day((struct report_month){2026, 12}, "2027-01-01", day);
  CHECK_STR(day, "2026-12-31");
  report_snapshot_day((struct report_month){2026, 12}, "2026-12-01", day);
  CHECK_STR(day, "2026-12-01");
  report_first_day((struct report_month){2026, 4}, day);
  CHECK_STR(day, "2026-04-01");
}

static void test_periods_are_at_most_12_months_up_to_now(void) {
  const char *today = "2026-12-01";
  CHECK(report_period_problem((struct report_month){2026, 1}, (struct report_month){2026, 12},
                              today) == NULL);
  CHECK(report_period_problem((struct report_month){2025, 12}, (struct report_month){2026, 12},
                              today) != NULL);
  CHECK(report_period_problem((struct report_month){2026, 12}, (struct report_month){2027, 1},
                              today) != NULL);
  CHECK(report_period_problem((struct report_month){2026, 6}, (struct report_month){2026, 5},
                              today) != NULL);
}

static void test_counts_of_one_to_four_are_suppressed(void) {
  CHECK(!report_count_suppressed(0));
  for (long n = 1; n <= 4; n++) CHECK(report_count_suppressed(n));
  CHECK(!report_count_suppressed(5));
  CHECK(!report_count_suppressed(120));
}

static void test_ratios_hide_what_a_small_number_could_be_worked_out_from(void) {
  struct report_visibility v = report_ratio_visibility(12, 20);
  CHECK(v.numerator && v.denominator && v.rate);
  v = report_ratio_visibility(0, 20); /* none met it: zero is shown */
  CHECK(v.numerator && v.denominator && v.rate);
  v = report_ratio_visibility(20, 20); /* all met it */
  CHECK(v.numerator && v.denominator && v.rate);
  v = report_ratio_visibility(3, 20); /* a small numerator */
  CHECK(!v.numerator && v.denominator && !v.rate);
  v = report_ratio_visibility(17, 20); /* 3 did not: the complement is small */
  CHECK(!v.numerator && v.denominator && !v.rate);
  v = report_ratio_visibility(0, 4); /* a small denominator hides everything */
  CHECK(!v.numerator && !v.denominator && !v.rate);
  v = report_ratio_visibility(0, 0);
  CHECK(v.numerator && v.denominator && v.rate);
}

int main(void) {
  test_months_parse_exactly();
  test_month_arithmetic_crosses_years();
  test_snapshot_is_the_last_day_or_today();
  test_periods_are_at_most_12_months_up_to_now();
  test_counts_of_one_to_four_are_suppressed();
  test_ratios_hide_what_a_small_number_could_be_worked_out_from();
  return checks_report();
}
