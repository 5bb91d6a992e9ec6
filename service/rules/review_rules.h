/* The CPA review clock and what a review's outcome does to the episode's care level
 * (DOMAIN.md R-REV-1, R-REV-3). Pure: no database, no clock; `today` is always an argument, a
 * Europe/London calendar date (uk_local_date in rules/clocks.h).
 *
 * R-REV-1: an episode on CPA has a review due every `cpa_months` (policy, default 6) calendar
 * months, one not on CPA every `non_cpa_months` (policy, default 12): counted from the last
 * review held, or, before the first, from the start of the episode's clock (its first
 * co-ordinating allocation, as for R-ASM-1 and R-CPL-1).
 * R-REV-2 (a review's invitees, attendees and outcome, and that it sets the next due date) is
 * the caller's: the next due date is this clock with the review just held as the last.
 * R-REV-3: stepping down from CPA or up to CPA changes the episode's care level; the episode
 * then needs the matching co-ordinating allocation (R-ALC-2: allocation_role_for_care_level),
 * which the caller checks.
 *
 * As for the assessment clocks: "overdue" is strictly after the due date (a review held on the
 * due day is on time), and month intervals are calendar months clamped to the month's end (6
 * months after 31 August is 28 February, or 29 in a leap year). */
#ifndef CARECOORD_REVIEW_RULES_H
#define CARECOORD_REVIEW_RULES_H

#include <stdbool.h>

#include "rules/allocation_rules.h"
#include "rules/assessment_rules.h"

/* R-REV-1: when the next CPA review is due: `months` after the London date of the last review
 * held (cpa_months for an episode on CPA, non_cpa_months otherwise; policy settings, defaults 6
 * and 12), or, before any review was held, `months` after the episode's clock start date (the
 * first co-ordinating allocation's London date; NULL: no review due yet). completed = last_held.
 * overdue = due set and today > due: a review held does not stop the next from becoming
 * overdue. Dates are YYYY-MM-DD or NULL; returns false when one given is not a valid date, which
 * *out then treats as absent (the caller should report the fault rather than show it). */
bool review_clock(enum care_level level, const char *last_held, const char *clock_start,
                  int cpa_months, int non_cpa_months, const char *today,
                  struct clock_state *out);

/* R-REV-2: a review's outcome, as stored and shown: "continue", "step_down", "step_up",
 * "transfer", "discharge". */
enum review_outcome {
  REVIEW_CONTINUE,
  REVIEW_STEP_DOWN,
  REVIEW_STEP_UP,
  REVIEW_TRANSFER,
  REVIEW_DISCHARGE,
  REVIEW_OUTCOME_COUNT
};

/* Parses a name; false when unknown or NULL (out is then unchanged). */
bool review_outcome_parse(const char *name, enum review_outcome *out);
/* The name; NULL for an out-of-range value. */
const char *review_outcome_name(enum review_outcome outcome);

/* R-REV-3: the care level after a review with this outcome of an episode at `current`:
 * step_down takes an episode on CPA to non_cpa, step_up one on non_cpa to cpa; every other
 * outcome keeps the level (transfer and discharge have their own rules). False, with *next
 * unchanged and a short reason in *problem (a static string), for step_down from non_cpa,
 * step_up from cpa, or an out-of-range value; *problem is NULL on success (problem may be
 * NULL). */
bool review_outcome_care_level(enum review_outcome outcome, enum care_level current,
                               enum care_level *next, const char **problem);

#endif
