/* The CPA review clock (R-REV-1): 6 months on CPA, 12 not, both policy settings; counted from
 * the last review held, or before the first from the clock start; month ends clamped; the due day
 * itself on time and the day after overdue. And what each review outcome does to the care level
 * (R-REV-3). */
#include "check.h"
#include "rules/review_rules.h"

static void check_clock(const struct clock_state *c, const char *due, bool overdue,
                        const char *completed, int line) {
  bool ok = c->has_due == (due != NULL) && strcmp(c->due, due ? due : "") == 0 &&
            c->overdue == overdue && c->has_completed == (completed != NULL) &&
            strcmp(c->completed, completed ? completed : "") == 0;
  if (!ok)
    fprintf(stderr, "line %d: got due=%s overdue=%d completed=%s\n", line,
            c->has_due ? c->due : "null", c->overdue, c->has_completed ? c->completed : "null");
  CHECK(ok);
}
#define CHECK_CLOCK(c, due, overdue, completed) check_clock(&(c), due, overdue, completed, __LINE__)

/* ---- R-REV-1: the review clock ---- */

static void test_r_rev_1_cpa_every_6_months_non_cpa_every_12(void) {
  struct clock_state c;
  CHECK(review_clock(CARE_LEVEL_CPA, "2026-03-10", "2025-01-05", 6, 12, "2026-04-01", &c));
  CHECK_CLOCK(c, "2026-09-10", false, "2026-03-10");
  CHECK(review_clock(CARE_LEVEL_NON_CPA, "2026-03-10", "2025-01-05", 6, 12, "2026-04-01", &c));
  CHECK_CLOCK(c, "2027-03-10", false, "2026-03-10");
}

static void test_r_rev_1_month_ends_clamp(void) {
  struct clock_state c;
  /* 31 August + 6 months: no 31 February, so the last day of February */
  CHECK(review_clock(CARE_LEVEL_CPA, "2026-08-31", NULL, 6, 12, "2026-09-01", &c));
  CHECK_CLOCK(c, "2027-02-28", false, "2026-08-31");
  CHECK(review_clock(CARE_LEVEL_CPA, "2027-08-31", NULL, 6, 12, "2027-09-01", &c));
  CHECK_CLOCK(c, "2028-02-29", false, "2027-08-31"); /* leap year */
  /* non-CPA from 29 February: 12 months on is 28 February */
  CHECK(review_clock(CARE_LEVEL_NON_CPA, "2028-02-29", NULL, 6, 12, "2028-03-01", &c));
  CHECK_CLOCK(c, "2029-02-28", false, "2028-02-29");
}

static void test_r_rev_1_before_any_review_from_the_clock_start(void) {
  struct clock_state c;
  CHECK(review_clock(CARE_LEVEL_CPA, NULL, "2026-01-31", 6, 12, "2026-02-01", &c));
  CHECK_CLOCK(c, "2026-07-31", false, NULL);
  CHECK(review_clock(CARE_LEVEL_NON_CPA, NULL, "2026-01-31", 6, 12, "2026-02-01", &c));
  CHECK_CLOCK(c, "2027-01-31", false, NULL);
  /* once a review is held, the clock start no longer matters */
  CHECK(review_clock(CARE_LEVEL_CPA, "2026-05-01", "2026-01-31", 6, 12, "2026-06-01", &c));
  CHECK_CLOCK(c, "2026-11-01", false, "2026-05-01");
}

static void test_r_rev_1_no_clock_start_no_review_due(void) {
  struct clock_state c;
  CHECK(review_clock(CARE_LEVEL_CPA, NULL, NULL, 6, 12, "2026-02-01", &c));
  CHECK_CLOCK(c, NULL, false, NULL);
  CHECK(review_clock(CARE_LEVEL_NON_CPA, NULL, NULL, 6, 12, "2099-12-31", &c));
  CHECK_CLOCK(c, NULL, false, NULL);
}

static void test_r_rev_1_overdue_only_after_the_due_day(void) {
  struct clock_state c;
  CHECK(review_clock(CARE_LEVEL_CPA, "2026-03-10", NULL, 6, 12, "2026-09-09", &c));
  CHECK_CLOCK(c, "2026-09-10", false, "2026-03-10");
  CHECK(review_clock(CARE_LEVEL_CPA, "2026-03-10", NULL, 6, 12, "2026-09-10", &c));
  CHECK_CLOCK(c, "2026-09-10", false, "2026-03-10"); /* held on the due day: on time */
  CHECK(review_clock(CARE_LEVEL_CPA, "2026-03-10", NULL, 6, 12, "2026-09-11", &c));
  CHECK_CLOCK(c, "2026-09-10", true, "2026-03-10");
  /* the same from the clock start, before any review */
  CHECK(review_clock(CARE_LEVEL_NON_CPA, NULL, "2026-03-10", 6, 12, "2027-03-10", &c));
  CHECK_CLOCK(c, "2027-03-10", false, NULL);
  CHECK(review_clock(CARE_LEVEL_NON_CPA, NULL, "2026-03-10", 6, 12, "2027-03-11", &c));
  CHECK_CLOCK(c, "2027-03-10", true, NULL);
  /* without today nothing can be overdue */
  CHECK(review_clock(CARE_LEVEL_CPA, "2020-01-01", NULL, 6, 12, NULL, &c));
  CHECK_CLOCK(c, "2020-07-01", false, "2020-01-01");
}

static void test_r_rev_1_intervals_are_policy_settings(void) {
  struct clock_state c;
  CHECK(review_clock(CARE_LEVEL_CPA, "2026-03-10", NULL, 3, 24, "2026-04-01", &c));
  CHECK_CLOCK(c, "2026-06-10", false, "2026-03-10");
  CHECK(review_clock(CARE_LEVEL_NON_CPA, "2026-03-10", NULL, 3, 24, "2026-04-01", &c));
  CHECK_CLOCK(c, "2028-03-10", false, "2026-03-10");
  CHECK(review_clock(CARE_LEVEL_CPA, NULL, "2026-11-30", 3, 24, "2027-03-01", &c));
  CHECK_CLOCK(c, "2027-02-28", true, NULL);
}

static void test_r_rev_1_dates_that_are_not_dates(void) {
  struct clock_state c;
  /* a bad last review counts as absent: due from the clock start, and the fault reported */
  CHECK(!review_clock(CARE_LEVEL_CPA, "10/03/2026", "2026-01-31", 6, 12, "2026-02-01", &c));
  CHECK_CLOCK(c, "2026-07-31", false, NULL);
  CHECK(!review_clock(CARE_LEVEL_CPA, "2026-03-10", "2026-02-30", 6, 12, "2026-04-01", &c));
  CHECK_CLOCK(c, "2026-09-10", false, "2026-03-10");
  CHECK(!review_clock(CARE_LEVEL_CPA, "2026-03-10", NULL, 6, 12, "2026-09-11T00:00:00Z", &c));
  CHECK_CLOCK(c, "2026-09-10", false, "2026-03-10");
  CHECK(!review_clock(CARE_LEVEL_CPA, NULL, "", 6, 12, "2026-04-01", &c));
  CHECK_CLOCK(c, NULL, false, NULL);
}

/* ---- R-REV-2, R-REV-3: outcomes ---- */

static void test_outcome_names_round_trip(void) {
  const char *names[REVIEW_OUTCOME_COUNT] = {"continue", "step_down", "step_up", "transfer",
                                             "discharge"};
  for (int i = 0; i < REVIEW_OUTCOME_COUNT; i++) {
    enum review_outcome o = REVIEW_OUTCOME_COUNT;
    CHECK(review_outcome_parse(names[i], &o) && o == (enum review_outcome)i);
    CHECK_STR(review_outcome_name((enum review_outcome)i), names[i]);
  }
  enum review_outcome o = REVIEW_TRANSFER;
  CHECK(!review_outcome_parse("step-down", &o) && o == REVIEW_TRANSFER);
  CHECK(!review_outcome_parse("Continue", &o) && o == REVIEW_TRANSFER);
  CHECK(!review_outcome_parse("", &o) && o == REVIEW_TRANSFER);
  CHECK(!review_outcome_parse(NULL, &o) && o == REVIEW_TRANSFER);
  CHECK(review_outcome_name(REVIEW_OUTCOME_COUNT) == NULL);
  CHECK(review_outcome_name((enum review_outcome)-1) == NULL);
}

/* Runs one transition; *next starts as a sentinel so an unchanged value shows. */
static bool transition(enum review_outcome o, enum care_level current, enum care_level *next,
                       const char **problem) {
  *next = CARE_LEVEL_COUNT;
  *problem = "(not set)";
  return review_outcome_care_level(o, current, next, problem);
}

static void test_r_rev_3_step_down_only_from_cpa(void) {
  enum care_level next;
  const char *problem;
  CHECK(transition(REVIEW_STEP_DOWN, CARE_LEVEL_CPA, &next, &problem));
  CHECK(next == CARE_LEVEL_NON_CPA && problem == NULL);
  CHECK(!transition(REVIEW_STEP_DOWN, CARE_LEVEL_NON_CPA, &next, &problem));
  CHECK(next == CARE_LEVEL_COUNT && problem && strstr(problem, "step_down"));
}

static void test_r_rev_3_step_up_only_from_non_cpa(void) {
  enum care_level next;
  const char *problem;
  CHECK(transition(REVIEW_STEP_UP, CARE_LEVEL_NON_CPA, &next, &problem));
  CHECK(next == CARE_LEVEL_CPA && problem == NULL);
  CHECK(!transition(REVIEW_STEP_UP, CARE_LEVEL_CPA, &next, &problem));
  CHECK(next == CARE_LEVEL_COUNT && problem && strstr(problem, "step_up"));
}

static void test_r_rev_3_other_outcomes_keep_the_level(void) {
  enum review_outcome keep[] = {REVIEW_CONTINUE, REVIEW_TRANSFER, REVIEW_DISCHARGE};
  enum care_level levels[] = {CARE_LEVEL_CPA, CARE_LEVEL_NON_CPA};
  for (size_t i = 0; i < sizeof keep / sizeof *keep; i++)
    for (size_t j = 0; j < sizeof levels / sizeof *levels; j++) {
      enum care_level next;
      const char *problem;
      CHECK(transition(keep[i], levels[j], &next, &problem));
      CHECK(next == levels[j] && problem == NULL);
    }
}

static void test_r_rev_3_out_of_range_values_are_refused(void) {
  enum care_level next;
  const char *problem;
  CHECK(!transition(REVIEW_OUTCOME_COUNT, CARE_LEVEL_CPA, &next, &problem));
  CHECK(next == CARE_LEVEL_COUNT && problem != NULL);
  CHECK(!transition(REVIEW_CONTINUE, CARE_LEVEL_COUNT, &next, &problem));
  CHECK(next == CARE_LEVEL_COUNT && problem != NULL);
  /* the reason is optional */
  next = CARE_LEVEL_COUNT;
  CHECK(review_outcome_care_level(REVIEW_STEP_DOWN, CARE_LEVEL_CPA, &next, NULL));
  CHECK(next == CARE_LEVEL_NON_CPA);
  CHECK(!review_outcome_care_level(REVIEW_STEP_UP, CARE_LEVEL_CPA, &next, NULL));
}

int main(void) {
  test_r_rev_1_cpa_every_6_months_non_cpa_every_12();
  test_r_rev_1_month_ends_clamp();
  test_r_rev_1_before_any_review_from_the_clock_start();
  test_r_rev_1_no_clock_start_no_review_due();
  test_r_rev_1_overdue_only_after_the_due_day();
  test_r_rev_1_intervals_are_policy_settings();
  test_r_rev_1_dates_that_are_not_dates();
  test_outcome_names_round_trip();
  test_r_rev_3_step_down_only_from_cpa();
  test_r_rev_3_step_up_only_from_non_cpa();
  test_r_rev_3_other_outcomes_keep_the_level();
  test_r_rev_3_out_of_range_values_are_refused();
  return checks_report();
}
