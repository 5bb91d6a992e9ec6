/* Carers (DOMAIN.md R-CAR-1, R-CAR-2). Pure: no database, no clock; `today` is always an
 * argument, a Europe/London calendar date (uk_local_date in rules/clocks.h).
 *
 * R-CAR-1: a carer is a young carer when under 18: by their date of birth when it is known,
 * otherwise by the under-18 flag recorded instead. Information is shared with a carer only as
 * far as the person's consent goes: given, and covering what is shared (its scope).
 * R-CAR-2: every carer is offered an assessment of their own needs, and their needs are
 * reviewed at least every `months` (policy, default 12) calendar months: counted from the last
 * review of their needs, or else from their assessment's completion, or else from the day they
 * were identified as a carer. */
#ifndef CARECOORD_CARER_RULES_H
#define CARECOORD_CARER_RULES_H

#include <stdbool.h>

#include "rules/assessment_rules.h"

/* What a carer's consent may cover, as stored and shown, followed by NULL: care_plan (receiving
 * the care plan), reviews (being invited to and told the outcome of reviews), crisis_plan (being
 * told the crisis plan), general (general information about the person's care). */
extern const char *const CONSENT_SCOPES[];
bool consent_scope_known(const char *name);

/* R-CAR-1: under 18 today. date_of_birth (YYYY-MM-DD) decides when given and valid; otherwise
 * under_18_flag (1 yes, 0 no, -1 not recorded, which counts as not a young carer). */
bool carer_is_young(const char *date_of_birth, int under_18_flag, const char *today);

/* R-CAR-2: the next review of the carer's needs. completed = the last review (needs_reviewed_on)
 * or NULL; due = months after the latest of needs_reviewed_on, assessment_completed_on and
 * identified_on that is given. Returns false when a date given is not valid (it then counts as
 * absent), like the other clocks. */
bool carer_needs_review_clock(const char *identified_on, const char *assessment_completed_on,
                              const char *needs_reviewed_on, int months, const char *today,
                              struct clock_state *out);

#endif
