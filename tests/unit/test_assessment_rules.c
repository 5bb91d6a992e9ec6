/* What an assessment may and must hold and the CPA decision it records (R-ASM-2..5), and the
 * assessment clocks of the episode summary (R-ASM-1, R-ASM-6, R-ASM-7): calendar months across
 * month ends, year ends and leap years; the due day itself on time and the day after overdue. */
#include "check.h"
#include "rules/assessment_rules.h"
#include "rules/clocks.h"

static time_t utc(int y, int mo, int d, int h, int mi) {
  return (time_t)(days_from_civil(y, mo, d) * 86400L + h * 3600L + mi * 60L);
}

/* text + months, through parse, add and format. */
static const char *plus_months(const char *text, int months) {
  static char out[CIVIL_DATE_TEXT_LEN];
  struct civil_date d;
  if (!civil_date_parse(text, &d)) return "(unparsed)";
  civil_date_format(civil_date_add_months(d, months), out);
  return out;
}

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

/* ---- calendar dates ---- */

static void test_month_ends_clamp_to_the_last_day(void) {
  CHECK_STR(plus_months("2026-01-31", 1), "2026-02-28");
  CHECK_STR(plus_months("2028-01-31", 1), "2028-02-29"); /* leap year */
  CHECK_STR(plus_months("2026-03-31", 1), "2026-04-30");
  CHECK_STR(plus_months("2026-01-31", 2), "2026-03-31"); /* not 28 carried on */
  CHECK_STR(plus_months("2026-08-31", 1), "2026-09-30");
  CHECK_STR(plus_months("2026-01-15", 1), "2026-02-15");
  CHECK_STR(plus_months("2026-02-28", 1), "2026-03-28");
  CHECK_STR(plus_months("2026-05-17", 0), "2026-05-17");
}

static void test_months_wrap_the_year(void) {
  CHECK_STR(plus_months("2026-11-30", 3), "2027-02-28");
  CHECK_STR(plus_months("2027-11-30", 3), "2028-02-29");
  CHECK_STR(plus_months("2026-11-15", 3), "2027-02-15");
  CHECK_STR(plus_months("2026-12-31", 1), "2027-01-31");
  CHECK_STR(plus_months("2026-10-01", 3), "2027-01-01");
  CHECK_STR(plus_months("2026-12-01", 12), "2027-12-01");
  CHECK_STR(plus_months("2026-06-10", 24), "2028-06-10");
  CHECK_STR(plus_months("2026-06-10", 1200), "2126-06-10");
  CHECK_STR(plus_months("9999-06-10", 1200), "9999-12-31"); /* the last date YYYY can show */
}

static void test_leap_years(void) {
  CHECK_STR(plus_months("2028-02-29", 12), "2029-02-28");
  CHECK_STR(plus_months("2028-02-29", 48), "2032-02-29");
  CHECK_STR(plus_months("2096-02-29", 48), "2100-02-28"); /* 2100 is not a leap year */
  CHECK_STR(plus_months("1996-02-29", 48), "2000-02-29"); /* 2000 is */
  CHECK_STR(plus_months("2099-12-29", 2), "2100-02-28");
  CHECK_STR(plus_months("1999-12-29", 2), "2000-02-29");
}

static void test_parse_is_strict(void) {
  struct civil_date d = {1, 2, 3};
  CHECK(civil_date_parse("2026-02-28", &d) && d.year == 2026 && d.month == 2 && d.day == 28);
  CHECK(civil_date_parse("2028-02-29", &d) && d.day == 29);
  CHECK(civil_date_parse("2000-02-29", &d));
  CHECK(civil_date_parse("0001-01-01", &d) && d.year == 1);
  CHECK(civil_date_parse("9999-12-31", &d) && d.year == 9999);
  d = (struct civil_date){1, 2, 3};
  const char *bad[] = {"2026-02-30", "2026-02-29", "2100-02-29", "2026-04-31", "2026-13-01",
                       "2026-00-10", "2026-01-00", "0000-01-01", "2026-2-3", "26-02-03",
                       "2026/02/03", "2026-02-03T00:00:00Z", "2026-02-03 ", " 2026-02-03",
                       "2026-02-3x", "+026-02-03", "2026-0a-03", "", "03-02-2026", NULL};
  for (const char **b = bad; *b; b++) {
    bool parsed = civil_date_parse(*b, &d);
    if (parsed) fprintf(stderr, "accepted %s\n", *b);
    CHECK(!parsed);
  }
  CHECK(!civil_date_parse(NULL, &d));
  CHECK(d.year == 1 && d.month == 2 && d.day == 3); /* unchanged on failure */
}

static void test_format_pads(void) {
  char text[CIVIL_DATE_TEXT_LEN];
  civil_date_format((struct civil_date){7, 3, 4}, text);
  CHECK_STR(text, "0007-03-04");
  civil_date_format((struct civil_date){2026, 12, 31}, text);
  CHECK_STR(text, "2026-12-31");
}

static void test_compare(void) {
  struct civil_date a = {2026, 3, 31}, b = {2026, 4, 1}, c = {2027, 1, 1}, d = {2026, 3, 30};
  CHECK(civil_date_compare(a, b) < 0 && civil_date_compare(b, a) > 0);
  CHECK(civil_date_compare(b, c) < 0 && civil_date_compare(c, a) > 0);
  CHECK(civil_date_compare(d, a) < 0 && civil_date_compare(a, d) > 0);
  CHECK(civil_date_compare(a, a) == 0);
  CHECK(civil_date_compare((struct civil_date){2025, 12, 31}, (struct civil_date){2026, 1, 1}) < 0);
}

/* How a caller turns a completed_at instant into a clock's `completed` date: its London date. */
static void test_completion_late_in_a_bst_evening_counts_on_the_next_london_date(void) {
  char completed[11];
  uk_local_date(utc(2026, 6, 30, 23, 30), completed); /* 00:30 BST, 1 July */
  CHECK_STR(completed, "2026-07-01");
  struct clock_state c;
  /* R-ASM-6: the review counts from the London date, so is due 1 July next year */
  CHECK(risk_review_clock("2026-06-01", completed, 12, "2027-07-01", &c));
  CHECK_CLOCK(c, "2027-07-01", false, "2026-07-01");
  /* in winter 23:30 UTC is 23:30 GMT: the same date */
  uk_local_date(utc(2026, 12, 31, 23, 30), completed);
  CHECK_STR(completed, "2026-12-31");
}

/* ---- R-ASM-1: the holistic assessment clock ---- */

static void test_r_asm_1_no_due_date_before_allocation(void) {
  struct clock_state c;
  CHECK(holistic_assessment_clock(NULL, NULL, "2026-05-01", &c));
  CHECK_CLOCK(c, NULL, false, NULL);
}

static void test_r_asm_1_overdue_only_after_the_due_day(void) {
  struct clock_state c;
  CHECK(holistic_assessment_clock("2026-02-09", NULL, "2026-02-08", &c));
  CHECK_CLOCK(c, "2026-02-09", false, NULL);
  CHECK(holistic_assessment_clock("2026-02-09", NULL, "2026-02-09", &c)); /* the due day */
  CHECK_CLOCK(c, "2026-02-09", false, NULL);
  CHECK(holistic_assessment_clock("2026-02-09", NULL, "2026-02-10", &c)); /* the day after */
  CHECK_CLOCK(c, "2026-02-09", true, NULL);
  CHECK(holistic_assessment_clock("2026-12-31", NULL, "2027-01-01", &c)); /* across a year */
  CHECK_CLOCK(c, "2026-12-31", true, NULL);
}

static void test_r_asm_1_completed_is_never_overdue(void) {
  struct clock_state c;
  CHECK(holistic_assessment_clock("2026-02-09", "2026-02-01", "2026-02-10", &c));
  CHECK_CLOCK(c, "2026-02-09", false, "2026-02-01");
  /* completed late: done is done, the late date shows for itself */
  CHECK(holistic_assessment_clock("2026-02-09", "2026-03-01", "2027-01-01", &c));
  CHECK_CLOCK(c, "2026-02-09", false, "2026-03-01");
}

static void test_clocks_report_dates_that_are_not_dates(void) {
  struct clock_state c;
  CHECK(!holistic_assessment_clock("09/02/2026", NULL, "2026-02-10", &c));
  CHECK_CLOCK(c, NULL, false, NULL);
  CHECK(!holistic_assessment_clock("2026-02-09", NULL, "yesterday", &c));
  CHECK_CLOCK(c, "2026-02-09", false, NULL);
  CHECK(!risk_review_clock("2026-02-09", "2026-02-30", 12, "2026-02-10", &c));
  CHECK_CLOCK(c, "2026-02-09", true, NULL);
  CHECK(!tops_clock("2026-02-09", "2026-2-1", NULL, 3, "2026-02-10", &c));
  CHECK_CLOCK(c, "2026-02-09", true, NULL);
}

/* ---- R-ASM-6: the risk review clock ---- */

static void test_r_asm_6_before_any_risk_assessment_due_with_the_holistic(void) {
  struct clock_state c;
  /* R-ASM-2: the first risk assessment is the holistic assessment's */
  CHECK(risk_review_clock(NULL, NULL, 12, "2026-05-01", &c));
  CHECK_CLOCK(c, NULL, false, NULL);
  CHECK(risk_review_clock("2026-02-09", NULL, 12, "2026-02-09", &c));
  CHECK_CLOCK(c, "2026-02-09", false, NULL);
  CHECK(risk_review_clock("2026-02-09", NULL, 12, "2026-02-10", &c));
  CHECK_CLOCK(c, "2026-02-09", true, NULL);
}

static void test_r_asm_6_due_12_months_after_the_last_risk_assessment(void) {
  struct clock_state c;
  CHECK(risk_review_clock("2026-02-09", "2026-02-05", 12, "2026-02-10", &c));
  CHECK_CLOCK(c, "2027-02-05", false, "2026-02-05");
  CHECK(risk_review_clock("2026-02-09", "2026-02-05", 12, "2027-02-05", &c)); /* the due day */
  CHECK_CLOCK(c, "2027-02-05", false, "2026-02-05");
  /* a review done once does not keep the next from becoming overdue */
  CHECK(risk_review_clock("2026-02-09", "2026-02-05", 12, "2027-02-06", &c));
  CHECK_CLOCK(c, "2027-02-05", true, "2026-02-05");
  /* the holistic due date no longer matters once a risk assessment is done */
  CHECK(risk_review_clock(NULL, "2026-02-05", 12, "2026-03-01", &c));
  CHECK_CLOCK(c, "2027-02-05", false, "2026-02-05");
}

static void test_r_asm_6_month_ends_leap_years_and_policy(void) {
  struct clock_state c;
  CHECK(risk_review_clock(NULL, "2028-02-29", 12, "2029-02-28", &c));
  CHECK_CLOCK(c, "2029-02-28", false, "2028-02-29");
  CHECK(risk_review_clock(NULL, "2028-02-29", 12, "2029-03-01", &c));
  CHECK_CLOCK(c, "2029-02-28", true, "2028-02-29");
  /* a trust reviewing every 6 months */
  CHECK(risk_review_clock(NULL, "2026-08-31", 6, "2027-02-28", &c));
  CHECK_CLOCK(c, "2027-02-28", false, "2026-08-31");
  CHECK(risk_review_clock(NULL, "2026-08-31", 6, "2027-03-01", &c));
  CHECK_CLOCK(c, "2027-02-28", true, "2026-08-31");
}

/* ---- R-ASM-7: the TOPs clock ---- */

static void test_r_asm_7_before_the_holistic_assessment_due_with_it(void) {
  struct clock_state c;
  CHECK(tops_clock(NULL, NULL, NULL, 3, "2026-05-01", &c));
  CHECK_CLOCK(c, NULL, false, NULL);
  CHECK(tops_clock("2026-02-09", NULL, NULL, 3, "2026-02-09", &c));
  CHECK_CLOCK(c, "2026-02-09", false, NULL);
  CHECK(tops_clock("2026-02-09", NULL, NULL, 3, "2026-02-10", &c));
  CHECK_CLOCK(c, "2026-02-09", true, NULL);
}

static void test_r_asm_7_at_comprehensive_assessment(void) {
  struct clock_state c;
  /* holistic done early with no TOPs: the TOPs was due that day */
  CHECK(tops_clock("2026-02-09", "2026-02-02", NULL, 3, "2026-02-02", &c));
  CHECK_CLOCK(c, "2026-02-02", false, NULL);
  CHECK(tops_clock("2026-02-09", "2026-02-02", NULL, 3, "2026-02-03", &c));
  CHECK_CLOCK(c, "2026-02-02", true, NULL);
  /* holistic done late: due that day too, not on the earlier holistic due date */
  CHECK(tops_clock("2026-02-09", "2026-02-20", NULL, 3, "2026-02-20", &c));
  CHECK_CLOCK(c, "2026-02-20", false, NULL);
}

static void test_r_asm_7_every_3_months_after_the_last_tops(void) {
  struct clock_state c;
  CHECK(tops_clock("2026-02-09", "2026-02-02", "2026-02-02", 3, "2026-02-03", &c));
  CHECK_CLOCK(c, "2026-05-02", false, "2026-02-02");
  CHECK(tops_clock("2026-02-09", "2026-02-02", "2026-02-02", 3, "2026-05-02", &c));
  CHECK_CLOCK(c, "2026-05-02", false, "2026-02-02");
  CHECK(tops_clock("2026-02-09", "2026-02-02", "2026-02-02", 3, "2026-05-03", &c));
  CHECK_CLOCK(c, "2026-05-02", true, "2026-02-02");
  /* across a year end into February */
  CHECK(tops_clock("2026-11-09", "2026-11-30", "2026-11-30", 3, "2027-02-28", &c));
  CHECK_CLOCK(c, "2027-02-28", false, "2026-11-30");
  CHECK(tops_clock("2026-11-09", "2026-11-30", "2026-11-30", 3, "2027-03-01", &c));
  CHECK_CLOCK(c, "2027-02-28", true, "2026-11-30");
  /* a TOPs recorded before the holistic assessment completes (say, at an initial contact) */
  CHECK(tops_clock("2026-02-09", NULL, "2026-01-20", 3, "2026-02-10", &c));
  CHECK_CLOCK(c, "2026-04-20", false, "2026-01-20");
}

/* ---- sections: R-ASM-2, R-ASM-5, R-ASM-6, R-ASM-7 ---- */

static void test_names_round_trip(void) {
  for (int t = 0; t < ASSESSMENT_TYPE_COUNT; t++) {
    enum assessment_type parsed = ASSESSMENT_TYPE_COUNT;
    CHECK(assessment_type_parse(assessment_type_name((enum assessment_type)t), &parsed));
    CHECK((int)parsed == t);
  }
  for (int g = 0; g < CPA_GROUP_COUNT; g++) {
    enum cpa_group parsed = CPA_GROUP_COUNT;
    CHECK(cpa_group_parse(cpa_group_name((enum cpa_group)g), &parsed));
    CHECK((int)parsed == g);
  }
  CHECK_STR(assessment_type_name(ASSESSMENT_RISK_REVIEW), "risk_review");
  CHECK_STR(cpa_group_name(CPA_GROUP_PRISONER_SEVERE_MENTAL_ILLNESS),
            "prisoner_severe_mental_illness");
  const char *sections[] = {"domains", "risk", "capacity", "children",
                            "cpa_decision", "tops", "specialism"};
  for (int s = 0; s < SECTION_COUNT; s++)
    CHECK_STR(assessment_section_name((enum assessment_section)s), sections[s]);
  enum assessment_type type = ASSESSMENT_TOPS;
  CHECK(!assessment_type_parse("Holistic", &type) && !assessment_type_parse(NULL, &type) &&
        !assessment_type_parse("", &type) && type == ASSESSMENT_TOPS);
  enum cpa_group group = CPA_GROUP_INPATIENT;
  CHECK(!cpa_group_parse("cto", &group) && !cpa_group_parse(NULL, &group) &&
        group == CPA_GROUP_INPATIENT);
  CHECK(assessment_type_name((enum assessment_type)9) == NULL);
  CHECK(assessment_section_name((enum assessment_section)9) == NULL);
  CHECK(cpa_group_name((enum cpa_group)9) == NULL);
}

/* The whole table, one row per type: A = allowed, R = required (and so allowed), - = neither.
 * Columns: domains risk capacity children cpa_decision tops specialism. */
static void test_sections_by_type(void) {
  static const char *const TABLE[ASSESSMENT_TYPE_COUNT] = {
      [ASSESSMENT_INITIAL] = "-AAA---",
      [ASSESSMENT_HOLISTIC] = "RRRRR--",     /* risk: R-ASM-2 */
      [ASSESSMENT_RISK_REVIEW] = "-RAA---",  /* risk: R-ASM-6 */
      [ASSESSMENT_TOPS] = "-----R-",         /* tops only: R-ASM-7 */
      [ASSESSMENT_SPECIALIST] = "-AAA--R",
  };
  for (int t = 0; t < ASSESSMENT_TYPE_COUNT; t++)
    for (int s = 0; s < SECTION_COUNT; s++) {
      enum assessment_type type = (enum assessment_type)t;
      enum assessment_section section = (enum assessment_section)s;
      char want = TABLE[t][s];
      bool allowed = assessment_section_allowed(type, section);
      bool required = assessment_section_required(type, section);
      if (allowed != (want != '-') || required != (want == 'R'))
        fprintf(stderr, "%s.%s: allowed %d required %d, want %c\n", assessment_type_name(type),
                assessment_section_name(section), allowed, required, want);
      CHECK(allowed == (want != '-'));
      CHECK(required == (want == 'R'));
    }
  CHECK(!assessment_section_allowed((enum assessment_type)9, SECTION_RISK));
  CHECK(!assessment_section_required(ASSESSMENT_HOLISTIC, (enum assessment_section)9));
}

static void test_required_sections_cite_their_rules(void) {
  CHECK_STR(assessment_section_rule(ASSESSMENT_HOLISTIC, SECTION_RISK), "R-ASM-2");
  CHECK_STR(assessment_section_rule(ASSESSMENT_RISK_REVIEW, SECTION_RISK), "R-ASM-6");
  CHECK_STR(assessment_section_rule(ASSESSMENT_TOPS, SECTION_TOPS), "R-ASM-7");
  CHECK_STR(assessment_section_rule(ASSESSMENT_HOLISTIC, SECTION_CHILDREN), "R-ASM-5");
  CHECK(assessment_section_rule(ASSESSMENT_HOLISTIC, SECTION_DOMAINS) == NULL);
  CHECK(assessment_section_rule(ASSESSMENT_HOLISTIC, SECTION_CAPACITY) == NULL);
  CHECK(assessment_section_rule(ASSESSMENT_HOLISTIC, SECTION_CPA_DECISION) == NULL);
  CHECK(assessment_section_rule(ASSESSMENT_SPECIALIST, SECTION_SPECIALISM) == NULL);
  /* not required, so no rule: an initial assessment's risk section is optional */
  CHECK(assessment_section_rule(ASSESSMENT_INITIAL, SECTION_RISK) == NULL);
  CHECK(assessment_section_rule(ASSESSMENT_SPECIALIST, SECTION_CHILDREN) == NULL);
  /* every required section either cites a rule or is a plain completeness requirement */
  for (int t = 0; t < ASSESSMENT_TYPE_COUNT; t++)
    for (int s = 0; s < SECTION_COUNT; s++)
      if (assessment_section_rule((enum assessment_type)t, (enum assessment_section)s))
        CHECK(assessment_section_required((enum assessment_type)t, (enum assessment_section)s));
}

static void test_thirteen_holistic_domains(void) {
  int n = 0;
  while (HOLISTIC_DOMAINS[n]) n++;
  CHECK(n == HOLISTIC_DOMAIN_COUNT && n == 13);
  CHECK_STR(HOLISTIC_DOMAINS[0], "psychiatric");
  CHECK_STR(HOLISTIC_DOMAINS[5], "substance_use");
  CHECK_STR(HOLISTIC_DOMAINS[12], "goals_aspirations");
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++) CHECK(strcmp(HOLISTIC_DOMAINS[i], HOLISTIC_DOMAINS[j]) != 0);
}

/* ---- R-ASM-3, R-ASM-4: the CPA decision ---- */

static void test_r_asm_3_automatic_groups_are_always_on_cpa(void) {
  for (int g = CPA_GROUP_INPATIENT; g < CPA_GROUP_COUNT; g++)
    for (int met = 0; met < 2; met++)
      for (int reason = 0; reason < 2; reason++) {
        enum cpa_group group = (enum cpa_group)g;
        CHECK(cpa_decision_check(group, met, CARE_LEVEL_CPA, reason) == CPA_DECISION_OK);
        /* R-ASM-3 first: no reason makes non_cpa right for these groups */
        CHECK(cpa_decision_check(group, met, CARE_LEVEL_NON_CPA, reason) ==
              CPA_DECISION_GROUP_REQUIRES_CPA);
      }
}

static void test_r_asm_4_non_cpa_with_criteria_met_needs_a_reason(void) {
  CHECK(cpa_decision_check(CPA_GROUP_NONE, true, CARE_LEVEL_NON_CPA, false) ==
        CPA_DECISION_REASON_REQUIRED);
  CHECK(cpa_decision_check(CPA_GROUP_NONE, true, CARE_LEVEL_NON_CPA, true) == CPA_DECISION_OK);
  CHECK(cpa_decision_check(CPA_GROUP_NONE, false, CARE_LEVEL_NON_CPA, false) == CPA_DECISION_OK);
  CHECK(cpa_decision_check(CPA_GROUP_NONE, false, CARE_LEVEL_NON_CPA, true) == CPA_DECISION_OK);
  /* CPA needs no reason, with or without criteria */
  for (int met = 0; met < 2; met++)
    for (int reason = 0; reason < 2; reason++)
      CHECK(cpa_decision_check(CPA_GROUP_NONE, met, CARE_LEVEL_CPA, reason) == CPA_DECISION_OK);
}

/* ---- R-ASM-5: children ---- */

static void test_r_asm_5_school_from_compulsory_school_age(void) {
  CHECK(!child_school_required(0));
  CHECK(!child_school_required(4));
  CHECK(child_school_required(5));
  CHECK(child_school_required(16));
  CHECK(child_school_required(17));
}

static void test_risk_categories_are_known_by_name(void) {
  CHECK(risk_category_known("suicide") && risk_category_known("other"));
  CHECK(!risk_category_known("gambling") && !risk_category_known("") && !risk_category_known(NULL));
  int n = 0;
  for (const char *const *c = RISK_CATEGORIES; *c; c++) n++;
  CHECK(n == 13);
}

int main(void) {
  test_month_ends_clamp_to_the_last_day();
  test_months_wrap_the_year();
  test_leap_years();
  test_parse_is_strict();
  test_format_pads();
  test_compare();
  test_completion_late_in_a_bst_evening_counts_on_the_next_london_date();
  test_r_asm_1_no_due_date_before_allocation();
  test_r_asm_1_overdue_only_after_the_due_day();
  test_r_asm_1_completed_is_never_overdue();
  test_clocks_report_dates_that_are_not_dates();
  test_r_asm_6_before_any_risk_assessment_due_with_the_holistic();
  test_r_asm_6_due_12_months_after_the_last_risk_assessment();
  test_r_asm_6_month_ends_leap_years_and_policy();
  test_r_asm_7_before_the_holistic_assessment_due_with_it();
  test_r_asm_7_at_comprehensive_assessment();
  test_r_asm_7_every_3_months_after_the_last_tops();
  test_names_round_trip();
  test_sections_by_type();
  test_required_sections_cite_their_rules();
  test_thirteen_holistic_domains();
  test_r_asm_3_automatic_groups_are_always_on_cpa();
  test_r_asm_4_non_cpa_with_criteria_met_needs_a_reason();
  test_r_asm_5_school_from_compulsory_school_age();
  test_risk_categories_are_known_by_name();
  return checks_report();
}
