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

static void test_timestamp_parse_applies_the_offset(void) {
  time_t t;
  CHECK(timestamp_parse("2025-11-03T10:00:00Z", &t) && t == utc(2025, 11, 3, 10, 0));
  CHECK(timestamp_parse("2025-07-01T10:00:00+01:00", &t) && t == utc(2025, 7, 1, 9, 0));
  CHECK(timestamp_parse("2025-07-01T10:00:00-05:30", &t) && t == utc(2025, 7, 1, 15, 30));
  CHECK(timestamp_parse("2025-07-01t10:00:00.123456z", &t) && t == utc(2025, 7, 1, 10, 0));
  CHECK(timestamp_parse("2024-02-29T00:00:00Z", &t) && t == utc(2024, 2, 29, 0, 0));
}

static void test_timestamp_parse_refuses_what_is_not_rfc3339(void) {
  time_t t;
  const char *bad[] = {"", "2025-11-03", "2025-11-03 10:00:00Z", "2025-11-03T10:00:00",
                       "2025-13-01T00:00:00Z", "2025-02-29T00:00:00Z", "2025-04-31T00:00:00Z",
                       "2025-01-01T24:00:00Z", "2025-01-01T00:60:00Z", "2025-01-01T00:00:00.Z",
                       "2025-01-01T00:00:00+0100", "2025-01-01T00:00:00+24:00",
                       "2025-01-01T00:00:00Zjunk", "0000-01-01T00:00:00Z", NULL};
  for (const char **b = bad; *b; b++) {
    bool parsed = timestamp_parse(*b, &t);
    if (parsed) fprintf(stderr, "accepted %s\n", *b);
    CHECK(!parsed);
  }
}

static void test_timestamp_format_is_utc_with_z(void) {
  char text[TIMESTAMP_TEXT_LEN];
  timestamp_format(utc(2025, 3, 30, 1, 5), text);
  CHECK_STR(text, "2025-03-30T01:05:00Z");
  time_t back;
  CHECK(timestamp_parse(text, &back) && back == utc(2025, 3, 30, 1, 5));
}

int main(void) {
  test_days_from_civil_known_dates();
  test_bst_starts_0100_utc_last_sunday_of_march();
  test_bst_ends_0100_utc_last_sunday_of_october();
  test_london_date_crosses_midnight_in_summer();
  test_timestamp_parse_applies_the_offset();
  test_timestamp_parse_refuses_what_is_not_rfc3339();
  test_timestamp_format_is_utc_with_z();
  return checks_report();
}
