/* UK clock changes decide the Europe/London date that policy clocks count in. */
#include "check.h"
#include "rules/clocks.h"

static time_t utc(int y, int mo, int d, int h, int mi) {
  return (time_t)(days_from_civil(y, mo, d) * 86400L + h * 3600L + mi * 60L);
}

static void test_days_from_civil_known_dates(void) {
  CHECK(days_from_civil(1970, 1, 1) == 0);
  CHECK(days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28) == 2); /* 2000 is leap */
  CHECK(days_from_civil(1900, 3, 1) - days_from_civil(1900, 2, 28) == 1); /* 1900 is not */
  CHECK(days_from_civil(2024, 3, 1) - days_from_civil(2024, 2, 28) == 2);
  CHECK(days_from_civil(2026, 1, 1) - days_from_civil(2025, 1, 1) == 365);
  CHECK(days_from_civil(1969, 12, 31) == -1);
}

static void test_bst_starts_0100_utc_last_sunday_of_march(void) {
  /* 2026: last Sunday of March is the 29th */
  CHECK(!uk_is_summer_time(utc(2026, 3, 29, 0, 59)));
  CHECK(uk_is_summer_time(utc(2026, 3, 29, 1, 0)));
  /* 2024: the 31st */
  CHECK(!uk_is_summer_time(utc(2024, 3, 31, 0, 59)));
  CHECK(uk_is_summer_time(utc(2024, 3, 31, 1, 0)));
}

static void test_bst_ends_0100_utc_last_sunday_of_october(void) {
  /* 2026: the 25th */
  CHECK(uk_is_summer_time(utc(2026, 10, 25, 0, 59)));
  CHECK(!uk_is_summer_time(utc(2026, 10, 25, 1, 0)));
  CHECK(!uk_is_summer_time(utc(2026, 12, 25, 12, 0)));
  CHECK(uk_is_summer_time(utc(2026, 7, 1, 12, 0)));
}

static void test_london_date_crosses_midnight_in_summer(void) {
  char date[11];
  uk_local_date(utc(2026, 6, 30, 23, 30), date); /* 00:30 BST on 1 July */
  CHECK_STR(date, "2026-07-01");
  uk_local_date(utc(2026, 12, 31, 23, 30), date); /* GMT: still 31 December */
  CHECK_STR(date, "2026-12-31");
  uk_local_date(utc(2024, 2, 28, 23, 0), date); /* leap year, GMT */
  CHECK_STR(date, "2024-02-28");
  uk_local_date(utc(2026, 3, 31, 23, 0), date); /* month end in BST */
  CHECK_STR(date, "2026-04-01");
}

int main(void) {
  test_days_from_civil_known_dates();
  test_bst_starts_0100_utc_last_sunday_of_march();
  test_bst_ends_0100_utc_last_sunday_of_october();
  test_london_date_crosses_midnight_in_summer();
  return checks_report();
}
