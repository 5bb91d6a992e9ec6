/* Transfers (R-TRF-1..5): which status may follow which, what each type needs and what its
 * completion does, step_down / step_up fitting the care level (R-REV-3), the follow-up after a
 * hospital discharge (R-TRF-3: 7 days, a policy setting) and the out-of-area liaison (R-TRF-4:
 * every 6 months, a policy setting, while the placement lasts). */
#include "check.h"
#include "rules/transfer_rules.h"

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

static void test_names_round_trip(void) {
  for (int i = 0; i < TRANSFER_TYPE_COUNT; i++) {
    enum transfer_type type;
    CHECK(transfer_type_parse(transfer_type_name((enum transfer_type)i), &type));
    CHECK(type == (enum transfer_type)i);
  }
  for (int i = 0; i < TRANSFER_STATUS_COUNT; i++) {
    enum transfer_status status;
    CHECK(transfer_status_parse(transfer_status_name((enum transfer_status)i), &status));
    CHECK(status == (enum transfer_status)i);
  }
  enum transfer_type type = TRANSFER_PRISON;
  CHECK(!transfer_type_parse("holiday", &type) && type == TRANSFER_PRISON);
  CHECK(!transfer_type_parse(NULL, &type));
  CHECK(transfer_type_name(TRANSFER_TYPE_COUNT) == NULL);
  CHECK(transfer_status_name(TRANSFER_STATUS_COUNT) == NULL);
  CHECK_STR(transfer_type_name(TRANSFER_PRIMARY_CARE_DISCHARGE), "primary_care_discharge");
}

/* ---- R-TRF-1 ---- */

static void test_r_trf_1_proposed_is_accepted_rejected_or_cancelled(void) {
  CHECK(transfer_may_become(TRANSFER_PROPOSED, TRANSFER_ACCEPTED));
  CHECK(transfer_may_become(TRANSFER_PROPOSED, TRANSFER_REJECTED));
  CHECK(transfer_may_become(TRANSFER_PROPOSED, TRANSFER_CANCELLED));
  /* completion needs the receiving side's acceptance first */
  CHECK(!transfer_may_become(TRANSFER_PROPOSED, TRANSFER_COMPLETED));
  CHECK(!transfer_may_become(TRANSFER_PROPOSED, TRANSFER_PROPOSED));
}

static void test_r_trf_1_accepted_is_completed_or_cancelled(void) {
  CHECK(transfer_may_become(TRANSFER_ACCEPTED, TRANSFER_COMPLETED));
  CHECK(transfer_may_become(TRANSFER_ACCEPTED, TRANSFER_CANCELLED));
  CHECK(!transfer_may_become(TRANSFER_ACCEPTED, TRANSFER_REJECTED));
  CHECK(!transfer_may_become(TRANSFER_ACCEPTED, TRANSFER_ACCEPTED));
  CHECK(!transfer_may_become(TRANSFER_ACCEPTED, TRANSFER_PROPOSED));
}

static void test_r_trf_1_rejected_completed_and_cancelled_are_final(void) {
  const enum transfer_status finals[] = {TRANSFER_REJECTED, TRANSFER_COMPLETED,
                                         TRANSFER_CANCELLED};
  for (size_t f = 0; f < sizeof finals / sizeof finals[0]; f++)
    for (int to = 0; to < TRANSFER_STATUS_COUNT; to++)
      CHECK(!transfer_may_become(finals[f], (enum transfer_status)to));
  CHECK(!transfer_may_become(TRANSFER_STATUS_COUNT, TRANSFER_ACCEPTED));
}

/* ---- what each type needs and does ---- */

static void test_r_trf_1_internal_team_moves_team_and_allocation(void) {
  const struct transfer_kind *k = transfer_kind_of(TRANSFER_INTERNAL_TEAM);
  CHECK(k->team == RECEIVING_TEAM_OTHER && k->staff && !k->external);
  CHECK(k->decided_by_receiving_team && k->completion == COMPLETION_MOVES_TEAM);
  CHECK(k->clock == TRANSFER_CLOCK_NONE);
}

static void test_r_rev_3_step_down_and_step_up_stay_in_the_team(void) {
  const enum transfer_type steps[] = {TRANSFER_STEP_DOWN, TRANSFER_STEP_UP};
  for (size_t i = 0; i < 2; i++) {
    const struct transfer_kind *k = transfer_kind_of(steps[i]);
    CHECK(k->team == RECEIVING_TEAM_OWN && k->staff && !k->external);
    CHECK(k->decided_by_receiving_team && k->completion == COMPLETION_CHANGES_CARE_LEVEL);
  }
}

static void test_hospital_admission_keeps_the_coordinator_and_names_the_ward_nurse(void) {
  const struct transfer_kind *k = transfer_kind_of(TRANSFER_HOSPITAL_ADMISSION);
  CHECK(k->team == RECEIVING_TEAM_INPATIENT_WARD && k->named_nurse && !k->staff);
  CHECK(k->decided_by_receiving_team && k->completion == COMPLETION_KEEPS_HOLDER);
}

static void test_receivers_outside_the_trust_are_external_and_decided_by_the_sender(void) {
  const enum transfer_type outside[] = {TRANSFER_OUT_OF_AREA, TRANSFER_PRISON,
                                        TRANSFER_PRIMARY_CARE_DISCHARGE, TRANSFER_PARTNER_AGENCY};
  for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
    const struct transfer_kind *k = transfer_kind_of(outside[i]);
    CHECK(k->external && k->team == RECEIVING_TEAM_NONE && !k->staff);
    CHECK(!k->decided_by_receiving_team);
  }
  CHECK(transfer_kind_of(TRANSFER_PRISON)->completion == COMPLETION_MOVES_TO_EXTERNAL);
  CHECK(transfer_kind_of(TRANSFER_PARTNER_AGENCY)->completion == COMPLETION_MOVES_TO_EXTERNAL);
  /* R-TRF-4: the co-ordinator keeps the allocation and liaises */
  CHECK(transfer_kind_of(TRANSFER_OUT_OF_AREA)->completion == COMPLETION_KEEPS_HOLDER);
  CHECK(transfer_kind_of(TRANSFER_OUT_OF_AREA)->clock == TRANSFER_CLOCK_LIAISON);
}

static void test_r_trf_5_primary_care_discharge_discharges(void) {
  const struct transfer_kind *k = transfer_kind_of(TRANSFER_PRIMARY_CARE_DISCHARGE);
  CHECK(k->completion == COMPLETION_DISCHARGES && k->clock == TRANSFER_CLOCK_NONE);
}

static void test_r_trf_3_hospital_discharge_needs_its_date_and_starts_the_follow_up(void) {
  const struct transfer_kind *k = transfer_kind_of(TRANSFER_HOSPITAL_DISCHARGE);
  CHECK(k->discharged_on && !k->external && !k->staff && k->team == RECEIVING_TEAM_NONE);
  CHECK(!k->decided_by_receiving_team && k->completion == COMPLETION_KEEPS_HOLDER);
  CHECK(k->clock == TRANSFER_CLOCK_FOLLOW_UP);
  CHECK(transfer_kind_of(TRANSFER_TYPE_COUNT) == NULL);
}

/* ---- R-REV-3 ---- */

static void test_r_rev_3_steps_fit_the_care_level(void) {
  enum care_level next = CARE_LEVEL_COUNT;
  const char *problem = "unset";
  CHECK(transfer_care_level(TRANSFER_STEP_DOWN, CARE_LEVEL_CPA, &next, &problem));
  CHECK(next == CARE_LEVEL_NON_CPA && problem == NULL);
  CHECK(transfer_care_level(TRANSFER_STEP_UP, CARE_LEVEL_NON_CPA, &next, &problem));
  CHECK(next == CARE_LEVEL_CPA && problem == NULL);
  next = CARE_LEVEL_COUNT;
  CHECK(!transfer_care_level(TRANSFER_STEP_DOWN, CARE_LEVEL_NON_CPA, &next, &problem));
  CHECK(next == CARE_LEVEL_COUNT && problem != NULL);
  CHECK(!transfer_care_level(TRANSFER_STEP_UP, CARE_LEVEL_CPA, &next, &problem));
  CHECK(next == CARE_LEVEL_COUNT && problem != NULL);
  /* every other type keeps the level */
  CHECK(transfer_care_level(TRANSFER_INTERNAL_TEAM, CARE_LEVEL_NON_CPA, &next, &problem));
  CHECK(next == CARE_LEVEL_NON_CPA && problem == NULL);
  CHECK(transfer_care_level(TRANSFER_PRISON, CARE_LEVEL_CPA, &next, NULL));
  CHECK(next == CARE_LEVEL_CPA);
}

/* ---- R-TRF-3 ---- */

static void test_r_trf_3_follow_up_due_7_days_after_discharge(void) {
  struct clock_state c;
  CHECK(follow_up_clock("2026-03-28", NULL, 7, "2026-03-30", &c));
  CHECK_CLOCK(c, "2026-04-04", false, NULL);
  /* across a month and a year end, and the policy's 72 hours (3 days) */
  CHECK(follow_up_clock("2026-12-29", NULL, 7, "2026-12-30", &c));
  CHECK_CLOCK(c, "2027-01-05", false, NULL);
  CHECK(follow_up_clock("2028-02-27", NULL, 3, "2028-02-27", &c));
  CHECK_CLOCK(c, "2028-03-01", false, NULL); /* leap year */
}

static void test_r_trf_3_overdue_only_after_the_due_day_until_a_follow_up(void) {
  struct clock_state c;
  CHECK(follow_up_clock("2026-03-01", NULL, 7, "2026-03-08", &c));
  CHECK_CLOCK(c, "2026-03-08", false, NULL);
  CHECK(follow_up_clock("2026-03-01", NULL, 7, "2026-03-09", &c));
  CHECK_CLOCK(c, "2026-03-08", true, NULL);
  /* a face-to-face follow-up satisfies it for good, on the discharge day too */
  CHECK(follow_up_clock("2026-03-01", "2026-03-05", 7, "2026-05-01", &c));
  CHECK_CLOCK(c, "2026-03-08", false, "2026-03-05");
  CHECK(follow_up_clock("2026-03-01", "2026-03-01", 7, "2026-05-01", &c));
  CHECK_CLOCK(c, "2026-03-08", false, "2026-03-01");
  /* a contact before the discharge is not its follow-up */
  CHECK(follow_up_clock("2026-03-01", "2026-02-27", 7, "2026-03-10", &c));
  CHECK_CLOCK(c, "2026-03-08", true, NULL);
}

static void test_r_trf_3_without_a_date_nothing_is_due(void) {
  struct clock_state c;
  CHECK(follow_up_clock(NULL, NULL, 7, "2026-03-10", &c));
  CHECK_CLOCK(c, NULL, false, NULL);
  CHECK(!follow_up_clock("2026-02-30", NULL, 7, "2026-03-10", &c));
  CHECK_CLOCK(c, NULL, false, NULL);
  CHECK(!follow_up_clock("2026-03-01", NULL, 7, "yesterday", &c));
  CHECK_CLOCK(c, "2026-03-08", false, NULL);
}

/* ---- R-TRF-4 ---- */

static void test_r_trf_4_liaison_every_6_months_from_the_later_of_start_and_last(void) {
  struct clock_state c;
  CHECK(liaison_clock("2026-01-15", NULL, NULL, 6, "2026-02-01", &c));
  CHECK_CLOCK(c, "2026-07-15", false, NULL);
  CHECK(liaison_clock("2026-01-15", "2026-05-20", NULL, 6, "2026-06-01", &c));
  CHECK_CLOCK(c, "2026-11-20", false, "2026-05-20");
  /* a contact before the placement started does not move the clock back */
  CHECK(liaison_clock("2026-01-15", "2025-12-01", NULL, 6, "2026-02-01", &c));
  CHECK_CLOCK(c, "2026-07-15", false, "2025-12-01");
  /* month ends clamp; the interval is a policy setting */
  CHECK(liaison_clock("2026-08-31", NULL, NULL, 6, "2026-09-01", &c));
  CHECK_CLOCK(c, "2027-02-28", false, NULL);
  CHECK(liaison_clock("2026-08-31", NULL, NULL, 3, "2026-09-01", &c));
  CHECK_CLOCK(c, "2026-11-30", false, NULL);
}

static void test_r_trf_4_overdue_after_the_due_day_while_the_placement_lasts(void) {
  struct clock_state c;
  CHECK(liaison_clock("2026-01-15", NULL, NULL, 6, "2026-07-15", &c));
  CHECK_CLOCK(c, "2026-07-15", false, NULL);
  CHECK(liaison_clock("2026-01-15", NULL, NULL, 6, "2026-07-16", &c));
  CHECK_CLOCK(c, "2026-07-15", true, NULL);
  /* once the placement ends the clock stops */
  CHECK(liaison_clock("2026-01-15", "2026-03-01", "2026-06-30", 6, "2027-01-01", &c));
  CHECK_CLOCK(c, NULL, false, "2026-03-01");
  CHECK(!liaison_clock("2026-01-15", NULL, "2026-13-01", 6, "2026-02-01", &c));
}

int main(void) {
  test_names_round_trip();
  test_r_trf_1_proposed_is_accepted_rejected_or_cancelled();
  test_r_trf_1_accepted_is_completed_or_cancelled();
  test_r_trf_1_rejected_completed_and_cancelled_are_final();
  test_r_trf_1_internal_team_moves_team_and_allocation();
  test_r_rev_3_step_down_and_step_up_stay_in_the_team();
  test_hospital_admission_keeps_the_coordinator_and_names_the_ward_nurse();
  test_receivers_outside_the_trust_are_external_and_decided_by_the_sender();
  test_r_trf_5_primary_care_discharge_discharges();
  test_r_trf_3_hospital_discharge_needs_its_date_and_starts_the_follow_up();
  test_r_rev_3_steps_fit_the_care_level();
  test_r_trf_3_follow_up_due_7_days_after_discharge();
  test_r_trf_3_overdue_only_after_the_due_day_until_a_follow_up();
  test_r_trf_3_without_a_date_nothing_is_due();
  test_r_trf_4_liaison_every_6_months_from_the_later_of_start_and_last();
  test_r_trf_4_overdue_after_the_due_day_while_the_placement_lasts();
  return checks_report();
}
