#include <string.h>

#include "check.h"
#include "rules/carer_rules.h"

static void test_young_carer_by_date_of_birth_or_flag_R_CAR_1(void) {
  CHECK(carer_is_young("2009-01-01", -1, "2026-12-01"));   /* 17 */
  CHECK(!carer_is_young("2008-12-01", -1, "2026-12-01"));  /* 18 today */
  CHECK(carer_is_young("2008-12-02", -1, "2026-12-01"));   /* 18 tomorrow */
  /* Born on 29 February: 18 on 28 February of a common year. */
  CHECK(carer_is_young("2008-02-29", -1, "2026-02-27"));
  CHECK(!carer_is_young("2008-02-29", -1, "2026-02-28"));
  /* The date of birth decides over the flag when both are recorded. */
  CHECK(!carer_is_young("1970-05-05", 1, "2026-12-01"));
  CHECK(carer_is_young(NULL, 1, "2026-12-01"));
  CHECK(!carer_is_young(NULL, 0, "2026-12-01"));
  CHECK(!carer_is_young(NULL, -1, "2026-12-01"));
  CHECK(carer_is_young("not-a-date", 1, "2026-12-01")); /* falls back on the flag */
}

static void test_consent_scopes_R_CAR_1(void) {
  CHECK(consent_scope_known("care_plan") && consent_scope_known("reviews"));
  CHECK(consent_scope_known("crisis_plan") && consent_scope_known("general"));
  CHECK(!consent_scope_known("everything") && !consent_scope_known(NULL));
}

static void test_needs_review_yearly_from_the_latest_event_R_CAR_2(void) {
  struct clock_state c;
  /* Only identified: due a year on. */
  CHECK(carer_needs_review_clock("2025-11-30", NULL, NULL, 12, "2026-11-30", &c));
  CHECK(c.has_due && strcmp(c.due, "2026-11-30") == 0 && !c.overdue && !c.has_completed);
  CHECK(carer_needs_review_clock("2025-11-30", NULL, NULL, 12, "2026-12-01", &c));
  CHECK(c.overdue);
  /* The assessment's completion restarts it. */
  CHECK(carer_needs_review_clock("2025-01-10", "2025-06-30", NULL, 12, "2026-06-30", &c));
  CHECK(strcmp(c.due, "2026-06-30") == 0 && !c.overdue);
  /* A review of needs restarts it and is shown as completed; month ends clamp. */
  CHECK(carer_needs_review_clock("2023-01-10", "2023-03-01", "2024-02-29", 12, "2025-03-01", &c));
  CHECK(c.has_completed && strcmp(c.completed, "2024-02-29") == 0);
  CHECK(strcmp(c.due, "2025-02-28") == 0 && c.overdue);
  /* An older review does not move the due date back. */
  CHECK(carer_needs_review_clock("2026-01-01", NULL, "2025-06-01", 12, "2026-06-01", &c));
  CHECK(strcmp(c.due, "2027-01-01") == 0 && !c.overdue);
  /* The policy interval is a setting. */
  CHECK(carer_needs_review_clock("2026-01-31", NULL, NULL, 6, "2026-08-01", &c));
  CHECK(strcmp(c.due, "2026-07-31") == 0 && c.overdue);
}

static void test_needs_review_without_dates_or_with_bad_ones_R_CAR_2(void) {
  struct clock_state c;
  CHECK(carer_needs_review_clock(NULL, NULL, NULL, 12, "2026-12-01", &c));
  CHECK(!c.has_due && !c.overdue);
  CHECK(!carer_needs_review_clock("2026-02-30", NULL, NULL, 12, "2026-12-01", &c));
  CHECK(!c.has_due);
}

int main(void) {
  test_young_carer_by_date_of_birth_or_flag_R_CAR_1();
  test_consent_scopes_R_CAR_1();
  test_needs_review_yearly_from_the_latest_event_R_CAR_2();
  test_needs_review_without_dates_or_with_bad_ones_R_CAR_2();
  return checks_report();
}
