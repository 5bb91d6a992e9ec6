#include "rules/review_rules.h"

#include <string.h>

#include "rules/clocks.h"

/* ---- R-REV-1: the review clock ---- */

/* Reads an optional date argument: *present when given and valid; false when given but not a
 * valid date (it then counts as absent). */
static bool read_date(const char *text, struct civil_date *out, bool *present) {
  *out = (struct civil_date){0};
  *present = text && civil_date_parse(text, out);
  return !text || *present;
}

bool review_clock(enum care_level level, const char *last_held, const char *clock_start,
                  int cpa_months, int non_cpa_months, const char *today,
                  struct clock_state *out) {
  struct civil_date last_date, start_date, today_date;
  bool has_last, has_start, has_today;
  bool ok = read_date(last_held, &last_date, &has_last);
  ok = read_date(clock_start, &start_date, &has_start) && ok;
  ok = read_date(today, &today_date, &has_today) && ok;
  int months = level == CARE_LEVEL_CPA ? cpa_months : non_cpa_months;
  /* Counted from the last review; before the first, from when co-ordinated care began. */
  bool has_due = has_last || has_start;
  struct civil_date due = civil_date_add_months(has_last ? last_date : start_date, months);

  *out = (struct clock_state){0};
  if (has_due) {
    out->has_due = true;
    civil_date_format(due, out->due);
  }
  if (has_last) {
    out->has_completed = true;
    civil_date_format(last_date, out->completed);
  }
  /* Never satisfied for good: the next review is due however recently one was held. */
  out->overdue = has_due && has_today && civil_date_compare(today_date, due) > 0;
  return ok;
}

/* ---- R-REV-2, R-REV-3: outcomes ---- */

static const char *const OUTCOME_NAMES[REVIEW_OUTCOME_COUNT] = {
    "continue", "step_down", "step_up", "transfer", "discharge"};

bool review_outcome_parse(const char *name, enum review_outcome *out) {
  for (int i = 0; name && i < REVIEW_OUTCOME_COUNT; i++)
    if (strcmp(name, OUTCOME_NAMES[i]) == 0) {
      *out = (enum review_outcome)i;
      return true;
    }
  return false;
}

const char *review_outcome_name(enum review_outcome outcome) {
  return (unsigned)outcome < REVIEW_OUTCOME_COUNT ? OUTCOME_NAMES[outcome] : NULL;
}

bool review_outcome_care_level(enum review_outcome outcome, enum care_level current,
                               enum care_level *next, const char **problem) {
  const char *why = NULL;
  enum care_level level = current;
  if ((unsigned)outcome >= REVIEW_OUTCOME_COUNT)
    why = "unknown review outcome";
  else if ((unsigned)current >= CARE_LEVEL_COUNT)
    why = "unknown care level";
  else if (outcome == REVIEW_STEP_DOWN && current != CARE_LEVEL_CPA)
    why = "step_down is only from cpa; the episode is not on CPA";
  else if (outcome == REVIEW_STEP_UP && current != CARE_LEVEL_NON_CPA)
    why = "step_up is only from non_cpa; the episode is already on CPA";
  else if (outcome == REVIEW_STEP_DOWN)
    level = CARE_LEVEL_NON_CPA;
  else if (outcome == REVIEW_STEP_UP)
    level = CARE_LEVEL_CPA;
  if (problem) *problem = why;
  if (why) return false;
  *next = level;
  return true;
}
