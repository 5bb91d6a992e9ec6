#include "rules/carer_rules.h"

#include <string.h>

#include "rules/clocks.h"

const char *const CONSENT_SCOPES[] = {"care_plan", "reviews", "crisis_plan", "general", NULL};

bool consent_scope_known(const char *name) {
  for (const char *const *s = CONSENT_SCOPES; name && *s; s++)
    if (strcmp(*s, name) == 0) return true;
  return false;
}

bool carer_is_young(const char *date_of_birth, int under_18_flag, const char *today) {
  struct civil_date born, now;
  if (date_of_birth && civil_date_parse(date_of_birth, &born) && civil_date_parse(today, &now)) {
    /* The 18th birthday (29 February births turn 18 on 28 February in a common year). */
    struct civil_date adult = civil_date_add_months(born, 18 * 12);
    return civil_date_compare(now, adult) < 0;
  }
  return under_18_flag == 1;
}

/* Takes the later of *latest and text (when text is a valid date); false when text is given but
 * not a valid date. */
static bool take_later(const char *text, struct civil_date *latest, bool *have) {
  if (!text) return true;
  struct civil_date d;
  if (!civil_date_parse(text, &d)) return false;
  if (!*have || civil_date_compare(d, *latest) > 0) *latest = d;
  *have = true;
  return true;
}

bool carer_needs_review_clock(const char *identified_on, const char *assessment_completed_on,
                              const char *needs_reviewed_on, int months, const char *today,
                              struct clock_state *out) {
  *out = (struct clock_state){0};
  struct civil_date from = {0}, now;
  bool have = false, valid = true;
  valid &= take_later(identified_on, &from, &have);
  valid &= take_later(assessment_completed_on, &from, &have);
  struct civil_date reviewed = {0};
  bool was_reviewed = false;
  if (!take_later(needs_reviewed_on, &reviewed, &was_reviewed)) valid = false;
  if (was_reviewed) {
    out->has_completed = true;
    civil_date_format(reviewed, out->completed);
    if (!have || civil_date_compare(reviewed, from) > 0) from = reviewed;
    have = true;
  }
  if (!have) return valid;
  struct civil_date due = civil_date_add_months(from, months);
  out->has_due = true;
  civil_date_format(due, out->due);
  out->overdue = today && civil_date_parse(today, &now) && civil_date_compare(now, due) > 0;
  return valid;
}
