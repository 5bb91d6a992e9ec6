/* What an assessment may and must hold, the CPA decision it records, and the assessment clocks
 * of the episode summary (DOMAIN.md R-ASM-1..7). Pure: no database, no clock; `today` is always
 * an argument, a Europe/London calendar date (uk_local_date in rules/clocks.h).
 *
 * R-ASM-1: the holistic assessment is due the allocation clock's due date (allocation_due_date)
 * and is satisfied by the first completed holistic assessment.
 * R-ASM-2: a holistic assessment cannot complete without a risk section; so the first risk
 * assessment is part of the holistic one, and until then the risk review clock shows the
 * holistic assessment's due date.
 * R-ASM-3: in-patients, people discharged on a Community Treatment Order and prisoners with
 * severe mental illness are always on CPA, whatever the criteria say.
 * R-ASM-4: CPA is the default where any CPA criterion is met (000 §4.9.10), so deciding "not on
 * CPA" then needs its reason recorded.
 * R-ASM-5: a child's school is recorded from compulsory school age (5); younger children have
 * none to record.
 * R-ASM-6: risk is reviewed at least every `months` (policy, default 12) calendar months after
 * the last completed assessment with a risk section, whatever its type.
 * R-ASM-7: substance-misuse episodes record a Treatment Outcome Profile (TOPs) at comprehensive
 * (holistic) assessment and every `months` (policy, default 3) calendar months after the last.
 * (The TOPs at discharge belongs to discharge, not to this clock.)
 *
 * "Overdue" is always strictly after the due date: work done on the due day is on time. Month
 * intervals are calendar months, clamped to the month's end (a review due a month after 31
 * January is due 28 February), as people count "every 3 months". */
#ifndef CARECOORD_ASSESSMENT_RULES_H
#define CARECOORD_ASSESSMENT_RULES_H

#include <stdbool.h>

#include "rules/allocation_rules.h"
#include "rules/clocks.h"

/* One care-cycle clock as the episode summary shows it; an absent date is has_* false and "". */
struct clock_state {
  bool has_due;
  char due[CIVIL_DATE_TEXT_LEN];
  bool overdue;
  bool has_completed;
  char completed[CIVIL_DATE_TEXT_LEN];
};

/* The clocks take YYYY-MM-DD dates, NULL where there is none, and fill *out. Each returns false
 * when a date given is not a valid YYYY-MM-DD (say, a database DateStyle other than ISO); *out
 * then treats that date as absent, and the caller should report the fault rather than show it.
 * `completed` dates are London dates of the completion instant: uk_local_date(completed_at). */

/* R-ASM-1: due = the allocation clock's due date (NULL before the first co-ordinating
 * allocation); completed = the first completed holistic assessment's date, or NULL; overdue =
 * not completed, due set and today > due. */
bool holistic_assessment_clock(const char *due, const char *completed, const char *today,
                               struct clock_state *out);
/* R-ASM-6: completed = the last completed assessment with a risk section, or NULL. With one, due
 * = completed + months; without, due = holistic_due (R-ASM-2), possibly NULL. overdue = due set
 * and today > due: a review done once does not stop the next from becoming overdue. */
bool risk_review_clock(const char *holistic_due, const char *last_risk_completed, int months,
                       const char *today, struct clock_state *out);
/* R-ASM-7, for substance-misuse episodes only: completed = the last completed TOPs, or NULL.
 * With one, due = completed + months; without, due = holistic_completed when the holistic
 * assessment is complete (a TOPs is recorded at comprehensive assessment), else holistic_due,
 * possibly NULL. overdue = due set and today > due. */
bool tops_clock(const char *holistic_due, const char *holistic_completed,
                const char *last_tops_completed, int months, const char *today,
                struct clock_state *out);

/* Assessment types, as stored and shown: "initial", "holistic", "risk_review", "tops",
 * "specialist". */
enum assessment_type {
  ASSESSMENT_INITIAL,
  ASSESSMENT_HOLISTIC,
  ASSESSMENT_RISK_REVIEW,
  ASSESSMENT_TOPS,
  ASSESSMENT_SPECIALIST,
  ASSESSMENT_TYPE_COUNT
};

/* Parses a name; false when unknown or NULL (out is then unchanged). */
bool assessment_type_parse(const char *name, enum assessment_type *out);
/* The name; NULL for an out-of-range value. */
const char *assessment_type_name(enum assessment_type type);

/* The sections of an assessment, named as their JSON members: "domains", "risk", "capacity",
 * "children", "cpa_decision", "tops", "specialism". */
enum assessment_section {
  SECTION_DOMAINS,
  SECTION_RISK,
  SECTION_CAPACITY,
  SECTION_CHILDREN,
  SECTION_CPA_DECISION,
  SECTION_TOPS,
  SECTION_SPECIALISM,
  SECTION_COUNT
};

/* The JSON member name; NULL for an out-of-range value. */
const char *assessment_section_name(enum assessment_section section);
/* Whether an assessment of this type may hold the section: domains and cpa_decision only a
 * holistic one; tops only a tops one, which holds nothing else but its summary (a TOPs is an
 * outcome questionnaire, not a clinical assessment); risk, capacity and children every type but
 * tops; specialism only a specialist one. The schema's assessments_sections_by_type repeats
 * this. */
bool assessment_section_allowed(enum assessment_type type, enum assessment_section section);
/* Whether the section must be present to complete: holistic: domains, risk (R-ASM-2), capacity,
 * children, cpa_decision; risk_review: risk (R-ASM-6); tops: tops (R-ASM-7); specialist:
 * specialism; initial: none. A required section is always allowed. What each section must
 * contain (all 13 domains, a decision, a school from age 5) the caller checks. */
bool assessment_section_required(enum assessment_type type, enum assessment_section section);
/* The rule that requires the section, for a problem's errors[].rule: "R-ASM-2" (risk on
 * holistic), "R-ASM-6" (risk on risk_review), "R-ASM-7" (tops on tops), "R-ASM-5" (children on
 * holistic); NULL for a section no numbered rule requires (domains, capacity, cpa_decision,
 * specialism) or one that is not required. */
const char *assessment_section_rule(enum assessment_type type, enum assessment_section section);

/* The 13 holistic domains (seed 000 §4.4-4.5) as JSON member names, in the policy's order,
 * followed by NULL: psychiatric, psychological, social_functioning, medication, physical_health,
 * substance_use, personal_circumstances_family, housing, finances,
 * employment_education_training, equality_diversity, social_inclusion, goals_aspirations. */
#define HOLISTIC_DOMAIN_COUNT 13
extern const char *const HOLISTIC_DOMAINS[HOLISTIC_DOMAIN_COUNT + 1];

/* The categories of a risk item, as stored and shown, followed by NULL: suicide, self_harm,
 * harm_to_others, self_neglect, relapse, safeguarding_adult, safeguarding_child, exploitation,
 * disinhibition, abuse, disengagement, substance_misuse, other. */
extern const char *const RISK_CATEGORIES[];
/* Whether name is one of RISK_CATEGORIES. */
bool risk_category_known(const char *name);

/* R-ASM-3: the groups always on CPA, as stored and shown: "none", "inpatient",
 * "community_treatment_order", "prisoner_severe_mental_illness". */
enum cpa_group {
  CPA_GROUP_NONE,
  CPA_GROUP_INPATIENT,
  CPA_GROUP_COMMUNITY_TREATMENT_ORDER,
  CPA_GROUP_PRISONER_SEVERE_MENTAL_ILLNESS,
  CPA_GROUP_COUNT
};

/* Parses a name; false when unknown or NULL (out is then unchanged). */
bool cpa_group_parse(const char *name, enum cpa_group *out);
/* The name; NULL for an out-of-range value. */
const char *cpa_group_name(enum cpa_group group);

/* The answer for a CPA decision. */
enum cpa_decision_fit {
  CPA_DECISION_OK,
  CPA_DECISION_GROUP_REQUIRES_CPA, /* R-ASM-3: an automatic group decided non_cpa */
  CPA_DECISION_REASON_REQUIRED,    /* R-ASM-4: a criterion met, non_cpa, no reason */
};

/* R-ASM-3, R-ASM-4: may `decision` stand for a person in `group`, with any of the CPA criteria
 * met or none, with a non_cpa_reason given or not? For a decision that is set (a missing
 * decision is a completeness question, not this one). R-ASM-3 is answered first: no reason
 * makes non_cpa right for an automatic group. */
enum cpa_decision_fit cpa_decision_check(enum cpa_group group, bool any_criterion_met,
                                         enum care_level decision, bool reason_given);

/* R-ASM-5: whether a child of this age (0..17) must have a school recorded: from compulsory
 * school age, 5, on (education or training continues to 18). */
bool child_school_required(int age);

#endif
