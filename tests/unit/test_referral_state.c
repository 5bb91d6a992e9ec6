/* Referral states (R-REF-2) and response times (R-REF-1): every pair of states, every urgency,
 * the policy defaults and a policy a trust changed, and the 28-day case across UK clock changes.
 * Due times are elapsed time added in UTC (see rules/referral_state.h). */
#include "check.h"
#include "rules/clocks.h"
#include "rules/referral_state.h"

static time_t utc(int y, int mo, int d, int h, int mi) {
  return (time_t)(days_from_civil(y, mo, d) * 86400L + h * 3600L + mi * 60L);
}

static struct policy defaults(void) {
  return (struct policy){.referral_response_emergency_hours = 4,
                         .referral_response_urgent_hours = 72,
                         .referral_response_routine_days = 28};
}

/* The whole R-REF-2 table: allowed[from][to]. */
static const bool ALLOWED[REFERRAL_STATUS_COUNT][REFERRAL_STATUS_COUNT] = {
    /*               recv   triaged accepted declined redirected withdrawn */
    [REFERRAL_RECEIVED] = {false, true, false, false, false, true},
    [REFERRAL_TRIAGED] = {false, false, true, true, true, true},
    [REFERRAL_ACCEPTED] = {false, false, false, false, false, false},
    [REFERRAL_DECLINED] = {false, false, false, false, false, false},
    [REFERRAL_REDIRECTED] = {false, false, false, false, false, false},
    [REFERRAL_WITHDRAWN] = {false, false, false, false, false, false},
};

static void test_r_ref_2_every_pair_of_states(void) {
  int allowed = 0;
  for (int from = 0; from < REFERRAL_STATUS_COUNT; from++)
    for (int to = 0; to < REFERRAL_STATUS_COUNT; to++) {
      bool got = referral_transition_allowed((enum referral_status)from, (enum referral_status)to);
      if (got != ALLOWED[from][to])
        fprintf(stderr, "transition %s -> %s: got %d\n",
                referral_status_name((enum referral_status)from),
                referral_status_name((enum referral_status)to), got);
      CHECK(got == ALLOWED[from][to]);
      allowed += got;
    }
  CHECK(allowed == 6); /* received->triaged|withdrawn; triaged->accepted|declined|redirected|withdrawn */
}

static void test_r_ref_2_named_transitions(void) {
  CHECK(referral_transition_allowed(REFERRAL_RECEIVED, REFERRAL_TRIAGED));
  CHECK(referral_transition_allowed(REFERRAL_TRIAGED, REFERRAL_ACCEPTED));
  CHECK(referral_transition_allowed(REFERRAL_TRIAGED, REFERRAL_DECLINED));
  CHECK(referral_transition_allowed(REFERRAL_TRIAGED, REFERRAL_REDIRECTED));
  CHECK(referral_transition_allowed(REFERRAL_RECEIVED, REFERRAL_WITHDRAWN));
  CHECK(referral_transition_allowed(REFERRAL_TRIAGED, REFERRAL_WITHDRAWN));
  /* a decision needs triage first */
  CHECK(!referral_transition_allowed(REFERRAL_RECEIVED, REFERRAL_ACCEPTED));
  CHECK(!referral_transition_allowed(REFERRAL_RECEIVED, REFERRAL_DECLINED));
  CHECK(!referral_transition_allowed(REFERRAL_RECEIVED, REFERRAL_REDIRECTED));
  /* no re-triage, no self-loops, no way back */
  CHECK(!referral_transition_allowed(REFERRAL_TRIAGED, REFERRAL_TRIAGED));
  CHECK(!referral_transition_allowed(REFERRAL_TRIAGED, REFERRAL_RECEIVED));
  CHECK(!referral_transition_allowed(REFERRAL_ACCEPTED, REFERRAL_WITHDRAWN));
  CHECK(!referral_transition_allowed(REFERRAL_DECLINED, REFERRAL_ACCEPTED));
  CHECK(!referral_transition_allowed(REFERRAL_WITHDRAWN, REFERRAL_RECEIVED));
  /* out-of-range values are refused, not undefined */
  CHECK(!referral_transition_allowed((enum referral_status)99, REFERRAL_TRIAGED));
  CHECK(!referral_transition_allowed(REFERRAL_RECEIVED, (enum referral_status)-1));
}

static void test_r_ref_2_decided_states_and_reasons(void) {
  CHECK(!referral_status_is_decided(REFERRAL_RECEIVED));
  CHECK(!referral_status_is_decided(REFERRAL_TRIAGED));
  CHECK(referral_status_is_decided(REFERRAL_ACCEPTED));
  CHECK(referral_status_is_decided(REFERRAL_DECLINED));
  CHECK(referral_status_is_decided(REFERRAL_REDIRECTED));
  CHECK(referral_status_is_decided(REFERRAL_WITHDRAWN));
  CHECK(referral_decision_needs_reason(REFERRAL_DECLINED));
  CHECK(referral_decision_needs_reason(REFERRAL_REDIRECTED));
  CHECK(!referral_decision_needs_reason(REFERRAL_ACCEPTED));
  CHECK(!referral_decision_needs_reason(REFERRAL_WITHDRAWN));
  /* a decided state has no way out */
  for (int from = 0; from < REFERRAL_STATUS_COUNT; from++)
    for (int to = 0; to < REFERRAL_STATUS_COUNT; to++)
      if (referral_status_is_decided((enum referral_status)from))
        CHECK(!referral_transition_allowed((enum referral_status)from, (enum referral_status)to));
}

static void test_names_round_trip(void) {
  for (int s = 0; s < REFERRAL_STATUS_COUNT; s++) {
    enum referral_status parsed = REFERRAL_STATUS_COUNT;
    CHECK(referral_status_parse(referral_status_name((enum referral_status)s), &parsed));
    CHECK((int)parsed == s);
  }
  for (int u = 0; u < URGENCY_COUNT; u++) {
    enum referral_urgency parsed = URGENCY_COUNT;
    CHECK(referral_urgency_parse(referral_urgency_name((enum referral_urgency)u), &parsed));
    CHECK((int)parsed == u);
  }
  enum referral_status s = REFERRAL_TRIAGED;
  CHECK(!referral_status_parse("Received", &s) && s == REFERRAL_TRIAGED);
  CHECK(!referral_status_parse("", &s) && !referral_status_parse(NULL, &s));
  enum referral_urgency u = URGENCY_ROUTINE;
  CHECK(!referral_urgency_parse("soon", &u) && u == URGENCY_ROUTINE);
  CHECK(referral_status_name((enum referral_status)42) == NULL);
  CHECK(referral_urgency_name((enum referral_urgency)42) == NULL);
  CHECK_STR(referral_status_name(REFERRAL_REDIRECTED), "redirected");
  CHECK_STR(referral_urgency_name(URGENCY_EMERGENCY), "emergency");
}

static void test_r_ref_1_default_due_times(void) {
  struct policy p = defaults();
  time_t received = utc(2026, 1, 12, 9, 30);
  CHECK(referral_response_due(URGENCY_EMERGENCY, received, &p) == utc(2026, 1, 12, 13, 30));
  CHECK(referral_response_due(URGENCY_URGENT, received, &p) == utc(2026, 1, 15, 9, 30));
  CHECK(referral_response_due(URGENCY_ROUTINE, received, &p) == utc(2026, 2, 9, 9, 30));
  /* an emergency received late in the evening is due after midnight */
  CHECK(referral_response_due(URGENCY_EMERGENCY, utc(2026, 1, 12, 22, 15), &p) ==
        utc(2026, 1, 13, 2, 15));
  /* leap day inside the routine interval */
  CHECK(referral_response_due(URGENCY_ROUTINE, utc(2028, 2, 10, 12, 0), &p) ==
        utc(2028, 3, 9, 12, 0));
}

static void test_r_ref_1_policy_a_trust_changed(void) {
  struct policy p = {.referral_response_emergency_hours = 1,
                     .referral_response_urgent_hours = 24,
                     .referral_response_routine_days = 14};
  time_t received = utc(2026, 6, 1, 8, 0);
  CHECK(referral_response_due(URGENCY_EMERGENCY, received, &p) == utc(2026, 6, 1, 9, 0));
  CHECK(referral_response_due(URGENCY_URGENT, received, &p) == utc(2026, 6, 2, 8, 0));
  CHECK(referral_response_due(URGENCY_ROUTINE, received, &p) == utc(2026, 6, 15, 8, 0));
}

static void test_r_ref_1_routine_across_uk_clock_changes_is_utc(void) {
  struct policy p = defaults();
  /* Received 09:00 GMT on 10 March 2026; BST starts 29 March. 28 x 24 h later is 09:00 UTC on
   * 7 April, which is 10:00 on the London wall clock: due is computed in UTC, so the wall-clock
   * time moves by the hour the clocks went forward and the date does not. */
  time_t received = utc(2026, 3, 10, 9, 0);
  time_t due = referral_response_due(URGENCY_ROUTINE, received, &p);
  CHECK(due == utc(2026, 4, 7, 9, 0));
  CHECK(due - received == 28L * 86400L);
  CHECK(!uk_is_summer_time(received) && uk_is_summer_time(due));
  char date[11];
  uk_local_date(due, date);
  CHECK_STR(date, "2026-04-07");
  /* Autumn: received 23:30 UTC on 10 October 2026 (00:30 BST on the 11th, London date 11th);
   * BST ends 25 October. Due 23:30 UTC on 7 November, which is 23:30 GMT on the 7th: the London
   * date is 27 days after the London receipt date, because the interval is elapsed time. */
  received = utc(2026, 10, 10, 23, 30);
  due = referral_response_due(URGENCY_ROUTINE, received, &p);
  CHECK(due == utc(2026, 11, 7, 23, 30));
  uk_local_date(received, date);
  CHECK_STR(date, "2026-10-11");
  uk_local_date(due, date);
  CHECK_STR(date, "2026-11-07");
  /* An emergency received across the spring change itself: still exactly 4 elapsed hours. */
  received = utc(2026, 3, 28, 23, 0);
  CHECK(referral_response_due(URGENCY_EMERGENCY, received, &p) == utc(2026, 3, 29, 3, 0));
}

static void test_r_ref_1_unknown_urgency_or_policy(void) {
  struct policy p = defaults();
  CHECK(referral_response_due((enum referral_urgency)7, utc(2026, 1, 1, 0, 0), &p) == (time_t)-1);
  CHECK(referral_response_due(URGENCY_ROUTINE, utc(2026, 1, 1, 0, 0), NULL) == (time_t)-1);
}

static void test_r_ref_3_urgent_referrals_go_to_crisis_unless_reason(void) {
  CHECK(referral_local_team_needs_reason(URGENCY_EMERGENCY, false));
  CHECK(referral_local_team_needs_reason(URGENCY_URGENT, false));
  CHECK(!referral_local_team_needs_reason(URGENCY_EMERGENCY, true));
  CHECK(!referral_local_team_needs_reason(URGENCY_URGENT, true));
  CHECK(!referral_local_team_needs_reason(URGENCY_ROUTINE, false));
  CHECK(!referral_local_team_needs_reason(URGENCY_ROUTINE, true));
}

static void test_r_ref_2_decision_verbs(void) {
  enum referral_status to = REFERRAL_RECEIVED;
  CHECK(referral_decision_parse("accept", &to) && to == REFERRAL_ACCEPTED);
  CHECK(referral_decision_parse("decline", &to) && to == REFERRAL_DECLINED);
  CHECK(referral_decision_parse("redirect", &to) && to == REFERRAL_REDIRECTED);
  CHECK(referral_decision_parse("withdraw", &to) && to == REFERRAL_WITHDRAWN);
  to = REFERRAL_TRIAGED;
  CHECK(!referral_decision_parse("accepted", &to) && to == REFERRAL_TRIAGED);
  CHECK(!referral_decision_parse("triage", &to));
  CHECK(!referral_decision_parse("", &to));
  CHECK(!referral_decision_parse(NULL, &to));
}

int main(void) {
  test_r_ref_2_every_pair_of_states();
  test_r_ref_2_named_transitions();
  test_r_ref_2_decided_states_and_reasons();
  test_names_round_trip();
  test_r_ref_1_default_due_times();
  test_r_ref_1_policy_a_trust_changed();
  test_r_ref_1_routine_across_uk_clock_changes_is_utc();
  test_r_ref_1_unknown_urgency_or_policy();
  test_r_ref_3_urgent_referrals_go_to_crisis_unless_reason();
  test_r_ref_2_decision_verbs();
  return checks_report();
}
