/* Who may hold an episode (R-ALC-2) and the assessment and care-plan clocks an allocation starts
 * (R-ASM-1, R-CPL-1): every role at every care level, on a ward or not, before and after a
 * co-ordinator; due dates across month ends, leap years and UK clock changes. */
#include "check.h"
#include "rules/allocation_rules.h"
#include "rules/clocks.h"

static time_t utc(int y, int mo, int d, int h, int mi) {
  return (time_t)(days_from_civil(y, mo, d) * 86400L + h * 3600L + mi * 60L);
}

static void test_r_alc_2_cpa_gets_a_care_coordinator(void) {
  for (int ward = 0; ward < 2; ward++)
    for (int before = 0; before < 2; before++) {
      CHECK(allocation_role_fit(ALLOCATION_CARE_COORDINATOR, CARE_LEVEL_CPA, ward, before) ==
            FIT_OK);
      CHECK(allocation_role_fit(ALLOCATION_LEAD_PROFESSIONAL, CARE_LEVEL_CPA, ward, before) ==
            FIT_WRONG_FOR_CARE_LEVEL);
    }
  CHECK(allocation_role_for_care_level(CARE_LEVEL_CPA) == ALLOCATION_CARE_COORDINATOR);
}

static void test_r_alc_2_non_cpa_gets_a_lead_professional(void) {
  for (int ward = 0; ward < 2; ward++)
    for (int before = 0; before < 2; before++) {
      CHECK(allocation_role_fit(ALLOCATION_LEAD_PROFESSIONAL, CARE_LEVEL_NON_CPA, ward, before) ==
            FIT_OK);
      CHECK(allocation_role_fit(ALLOCATION_CARE_COORDINATOR, CARE_LEVEL_NON_CPA, ward, before) ==
            FIT_WRONG_FOR_CARE_LEVEL);
    }
  CHECK(allocation_role_for_care_level(CARE_LEVEL_NON_CPA) == ALLOCATION_LEAD_PROFESSIONAL);
}

static void test_r_alc_2_interim_named_nurse_only_on_a_ward_until_a_coordinator(void) {
  for (int level = 0; level < CARE_LEVEL_COUNT; level++) {
    enum care_level l = (enum care_level)level;
    CHECK(allocation_role_fit(ALLOCATION_INTERIM_NAMED_NURSE, l, true, false) == FIT_OK);
    CHECK(allocation_role_fit(ALLOCATION_INTERIM_NAMED_NURSE, l, true, true) ==
          FIT_INTERIM_AFTER_COORDINATOR);
    CHECK(allocation_role_fit(ALLOCATION_INTERIM_NAMED_NURSE, l, false, false) ==
          FIT_INTERIM_NOT_INPATIENT);
    CHECK(allocation_role_fit(ALLOCATION_INTERIM_NAMED_NURSE, l, false, true) ==
          FIT_INTERIM_NOT_INPATIENT);
  }
}

static void test_coordinating_roles_start_the_clocks(void) {
  CHECK(allocation_role_coordinates(ALLOCATION_CARE_COORDINATOR));
  CHECK(allocation_role_coordinates(ALLOCATION_LEAD_PROFESSIONAL));
  CHECK(!allocation_role_coordinates(ALLOCATION_INTERIM_NAMED_NURSE));
  CHECK(!allocation_role_coordinates((enum allocation_role)9));
}

static void test_names_round_trip(void) {
  for (int r = 0; r < ALLOCATION_ROLE_COUNT; r++) {
    enum allocation_role parsed = ALLOCATION_ROLE_COUNT;
    CHECK(allocation_role_parse(allocation_role_name((enum allocation_role)r), &parsed));
    CHECK((int)parsed == r);
  }
  for (int l = 0; l < CARE_LEVEL_COUNT; l++) {
    enum care_level parsed = CARE_LEVEL_COUNT;
    CHECK(care_level_parse(care_level_name((enum care_level)l), &parsed));
    CHECK((int)parsed == l);
  }
  enum allocation_role role = ALLOCATION_LEAD_PROFESSIONAL;
  CHECK(!allocation_role_parse("Care_coordinator", &role) && role == ALLOCATION_LEAD_PROFESSIONAL);
  CHECK(!allocation_role_parse(NULL, &role) && !allocation_role_parse("", &role));
  enum care_level level = CARE_LEVEL_NON_CPA;
  CHECK(!care_level_parse("CPA", &level) && level == CARE_LEVEL_NON_CPA);
  CHECK(allocation_role_name((enum allocation_role)5) == NULL);
  CHECK(care_level_name((enum care_level)5) == NULL);
  CHECK_STR(allocation_role_name(ALLOCATION_INTERIM_NAMED_NURSE), "interim_named_nurse");
  CHECK_STR(care_level_name(CARE_LEVEL_NON_CPA), "non_cpa");
}

static void test_r_asm_1_r_cpl_1_28_days_after_the_london_date(void) {
  char due[11];
  allocation_due_date(utc(2026, 1, 12, 9, 30), 28, due);
  CHECK_STR(due, "2026-02-09");
  /* the time of day does not matter, only the London date */
  allocation_due_date(utc(2026, 1, 12, 0, 0), 28, due);
  CHECK_STR(due, "2026-02-09");
  allocation_due_date(utc(2026, 1, 12, 23, 59), 28, due);
  CHECK_STR(due, "2026-02-09");
  /* month and year ends */
  allocation_due_date(utc(2026, 12, 20, 10, 0), 28, due);
  CHECK_STR(due, "2027-01-17");
  allocation_due_date(utc(2026, 1, 31, 10, 0), 28, due);
  CHECK_STR(due, "2026-02-28");
  /* leap years: 29 February counts as a day */
  allocation_due_date(utc(2028, 2, 10, 12, 0), 28, due);
  CHECK_STR(due, "2028-03-09");
  allocation_due_date(utc(2026, 2, 10, 12, 0), 28, due);
  CHECK_STR(due, "2026-03-10");
  allocation_due_date(utc(2100, 2, 10, 12, 0), 28, due); /* 2100 is not a leap year */
  CHECK_STR(due, "2100-03-10");
  allocation_due_date(utc(2000, 2, 10, 12, 0), 28, due); /* 2000 is */
  CHECK_STR(due, "2000-03-09");
}

static void test_r_asm_1_r_cpl_1_across_uk_clock_changes(void) {
  char due[11];
  /* 23:30 UTC on 30 June is 00:30 BST on 1 July: the clock counts from 1 July */
  allocation_due_date(utc(2026, 6, 30, 23, 30), 28, due);
  CHECK_STR(due, "2026-07-29");
  /* 23:30 UTC on 30 December is 23:30 GMT: still 30 December */
  allocation_due_date(utc(2026, 12, 30, 23, 30), 28, due);
  CHECK_STR(due, "2027-01-27");
  /* allocated just before BST starts (00:59 UTC, 29 March 2026, GMT), due in summer time: the
   * date is 28 calendar days on, not shifted by the lost hour */
  allocation_due_date(utc(2026, 3, 29, 0, 59), 28, due);
  CHECK_STR(due, "2026-04-26");
  /* allocated 23:30 UTC on 24 October 2026 (00:30 BST on the 25th, the day BST ends) */
  allocation_due_date(utc(2026, 10, 24, 23, 30), 28, due);
  CHECK_STR(due, "2026-11-22");
  /* allocated 00:30 UTC on 25 October 2026, which is 01:30 BST, before the clocks go back */
  allocation_due_date(utc(2026, 10, 25, 0, 30), 28, due);
  CHECK_STR(due, "2026-11-22");
  /* and the first instant of GMT that night */
  allocation_due_date(utc(2026, 10, 25, 1, 0), 28, due);
  CHECK_STR(due, "2026-11-22");
}

static void test_r_asm_1_r_cpl_1_policy_a_trust_changed(void) {
  char due[11];
  allocation_due_date(utc(2026, 5, 1, 9, 0), 14, due);
  CHECK_STR(due, "2026-05-15");
  allocation_due_date(utc(2026, 5, 1, 9, 0), 1, due);
  CHECK_STR(due, "2026-05-02");
  allocation_due_date(utc(2026, 5, 1, 9, 0), 365, due);
  CHECK_STR(due, "2027-05-01");
}

int main(void) {
  test_r_alc_2_cpa_gets_a_care_coordinator();
  test_r_alc_2_non_cpa_gets_a_lead_professional();
  test_r_alc_2_interim_named_nurse_only_on_a_ward_until_a_coordinator();
  test_coordinating_roles_start_the_clocks();
  test_names_round_trip();
  test_r_asm_1_r_cpl_1_28_days_after_the_london_date();
  test_r_asm_1_r_cpl_1_across_uk_clock_changes();
  test_r_asm_1_r_cpl_1_policy_a_trust_changed();
  return checks_report();
}
