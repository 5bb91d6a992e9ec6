#include "rules/assessment_rules.h"

#include <stdio.h>
#include <string.h>

#include "rules/clocks.h"

/* ---- clocks ---- */

/* Reads an optional date argument: *present when given and valid; false when given but not a
 * valid date (it then counts as absent). */
static bool read_date(const char *text, struct civil_date *out, bool *present) {
  *out = (struct civil_date){0};
  *present = text && civil_date_parse(text, out);
  return !text || *present;
}

static void show_dates(struct clock_state *out, bool has_due, struct civil_date due,
                       bool has_completed, struct civil_date completed) {
  *out = (struct clock_state){0};
  if (has_due) {
    out->has_due = true;
    civil_date_format(due, out->due);
  }
  if (has_completed) {
    out->has_completed = true;
    civil_date_format(completed, out->completed);
  }
}

bool holistic_assessment_clock(const char *due, const char *completed, const char *today,
                               struct clock_state *out) {
  struct civil_date due_date, completed_date, today_date;
  bool has_due, has_completed, has_today;
  bool ok = read_date(due, &due_date, &has_due);
  ok = read_date(completed, &completed_date, &has_completed) && ok;
  ok = read_date(today, &today_date, &has_today) && ok;
  show_dates(out, has_due, due_date, has_completed, completed_date);
  /* Done once: a completed holistic assessment satisfies the clock for good. */
  out->overdue = !has_completed && has_due && has_today &&
                 civil_date_compare(today_date, due_date) > 0;
  return ok;
}

/* The recurring clocks: the next is due `months` after the last, or before the first on
 * first_due, if known. Never satisfied for good: overdue once today passes the due date, however
 * recently it was last done. */
static void recurring_clock(bool has_first_due, struct civil_date first_due, bool has_last,
                            struct civil_date last, int months, bool has_today,
                            struct civil_date today, struct clock_state *out) {
  bool has_due = has_last || has_first_due;
  struct civil_date due = has_last ? civil_date_add_months(last, months) : first_due;
  show_dates(out, has_due, due, has_last, last);
  out->overdue = has_due && has_today && civil_date_compare(today, due) > 0;
}

bool risk_review_clock(const char *holistic_due, const char *last_risk_completed, int months,
                       const char *today, struct clock_state *out) {
  struct civil_date holistic_due_date, last_date, today_date;
  bool has_holistic_due, has_last, has_today;
  bool ok = read_date(holistic_due, &holistic_due_date, &has_holistic_due);
  ok = read_date(last_risk_completed, &last_date, &has_last) && ok;
  ok = read_date(today, &today_date, &has_today) && ok;
  /* R-ASM-2: the first risk assessment is part of the holistic one, so it is due with it. */
  recurring_clock(has_holistic_due, holistic_due_date, has_last, last_date, months, has_today,
                  today_date, out);
  return ok;
}

bool tops_clock(const char *holistic_due, const char *holistic_completed,
                const char *last_tops_completed, int months, const char *today,
                struct clock_state *out) {
  struct civil_date holistic_due_date, holistic_completed_date, last_date, today_date;
  bool has_holistic_due, has_holistic_completed, has_last, has_today;
  bool ok = read_date(holistic_due, &holistic_due_date, &has_holistic_due);
  ok = read_date(holistic_completed, &holistic_completed_date, &has_holistic_completed) && ok;
  ok = read_date(last_tops_completed, &last_date, &has_last) && ok;
  ok = read_date(today, &today_date, &has_today) && ok;
  /* R-ASM-7: the first TOPs is recorded at comprehensive assessment: due with the holistic
   * assessment, and once that is done, on the day it was done. */
  if (has_holistic_completed)
    recurring_clock(true, holistic_completed_date, has_last, last_date, months, has_today,
                    today_date, out);
  else
    recurring_clock(has_holistic_due, holistic_due_date, has_last, last_date, months, has_today,
                    today_date, out);
  return ok;
}

/* ---- types and sections ---- */

static const char *const TYPE_NAMES[ASSESSMENT_TYPE_COUNT] = {"initial", "holistic",
                                                              "risk_review", "tops", "specialist"};
static const char *const SECTION_NAMES[SECTION_COUNT] = {
    "domains", "risk", "capacity", "children", "cpa_decision", "tops", "specialism"};

/* One row per type, one bit per section. */
#define S(section) (1u << (section))
#define CLINICAL_SECTIONS (S(SECTION_RISK) | S(SECTION_CAPACITY) | S(SECTION_CHILDREN))
static const unsigned SECTIONS_ALLOWED[ASSESSMENT_TYPE_COUNT] = {
    [ASSESSMENT_INITIAL] = CLINICAL_SECTIONS,
    [ASSESSMENT_HOLISTIC] = CLINICAL_SECTIONS | S(SECTION_DOMAINS) | S(SECTION_CPA_DECISION),
    [ASSESSMENT_RISK_REVIEW] = CLINICAL_SECTIONS,
    [ASSESSMENT_TOPS] = S(SECTION_TOPS),
    [ASSESSMENT_SPECIALIST] = CLINICAL_SECTIONS | S(SECTION_SPECIALISM),
};
static const unsigned SECTIONS_REQUIRED[ASSESSMENT_TYPE_COUNT] = {
    [ASSESSMENT_INITIAL] = 0,
    [ASSESSMENT_HOLISTIC] = CLINICAL_SECTIONS | S(SECTION_DOMAINS) | S(SECTION_CPA_DECISION),
    [ASSESSMENT_RISK_REVIEW] = S(SECTION_RISK),
    [ASSESSMENT_TOPS] = S(SECTION_TOPS),
    [ASSESSMENT_SPECIALIST] = S(SECTION_SPECIALISM),
};
#undef CLINICAL_SECTIONS

bool assessment_type_parse(const char *name, enum assessment_type *out) {
  for (int i = 0; name && i < ASSESSMENT_TYPE_COUNT; i++)
    if (strcmp(name, TYPE_NAMES[i]) == 0) {
      *out = (enum assessment_type)i;
      return true;
    }
  return false;
}

const char *assessment_type_name(enum assessment_type type) {
  return (unsigned)type < ASSESSMENT_TYPE_COUNT ? TYPE_NAMES[type] : NULL;
}

const char *assessment_section_name(enum assessment_section section) {
  return (unsigned)section < SECTION_COUNT ? SECTION_NAMES[section] : NULL;
}

static bool in_table(const unsigned table[ASSESSMENT_TYPE_COUNT], enum assessment_type type,
                     enum assessment_section section) {
  return (unsigned)type < ASSESSMENT_TYPE_COUNT && (unsigned)section < SECTION_COUNT &&
         (table[type] & S(section));
}
#undef S

bool assessment_section_allowed(enum assessment_type type, enum assessment_section section) {
  return in_table(SECTIONS_ALLOWED, type, section);
}

bool assessment_section_required(enum assessment_type type, enum assessment_section section) {
  return in_table(SECTIONS_REQUIRED, type, section);
}

const char *assessment_section_rule(enum assessment_type type, enum assessment_section section) {
  if (!assessment_section_required(type, section)) return NULL;
  switch (section) {
  case SECTION_RISK: return type == ASSESSMENT_HOLISTIC ? "R-ASM-2" : "R-ASM-6";
  case SECTION_TOPS: return "R-ASM-7";
  case SECTION_CHILDREN: return "R-ASM-5";
  default: return NULL;
  }
}

const char *const HOLISTIC_DOMAINS[HOLISTIC_DOMAIN_COUNT + 1] = {
    "psychiatric",
    "psychological",
    "social_functioning",
    "medication",
    "physical_health",
    "substance_use",
    "personal_circumstances_family",
    "housing",
    "finances",
    "employment_education_training",
    "equality_diversity",
    "social_inclusion",
    "goals_aspirations",
    NULL,
};

/* ---- the CPA decision ---- */

static const char *const GROUP_NAMES[CPA_GROUP_COUNT] = {
    "none", "inpatient", "community_treatment_order", "prisoner_severe_mental_illness"};

bool cpa_group_parse(const char *name, enum cpa_group *out) {
  for (int i = 0; name && i < CPA_GROUP_COUNT; i++)
    if (strcmp(name, GROUP_NAMES[i]) == 0) {
      *out = (enum cpa_group)i;
      return true;
    }
  return false;
}

const char *cpa_group_name(enum cpa_group group) {
  return (unsigned)group < CPA_GROUP_COUNT ? GROUP_NAMES[group] : NULL;
}

enum cpa_decision_fit cpa_decision_check(enum cpa_group group, bool any_criterion_met,
                                         enum care_level decision, bool reason_given) {
  if (group != CPA_GROUP_NONE && decision != CARE_LEVEL_CPA)
    return CPA_DECISION_GROUP_REQUIRES_CPA;
  if (any_criterion_met && decision == CARE_LEVEL_NON_CPA && !reason_given)
    return CPA_DECISION_REASON_REQUIRED;
  return CPA_DECISION_OK;
}

bool child_school_required(int age) {
  return age >= 5;
}

const char *const RISK_CATEGORIES[] = {
    "suicide",       "self_harm",          "harm_to_others",     "self_neglect",
    "relapse",       "safeguarding_adult", "safeguarding_child", "exploitation",
    "disinhibition", "abuse",              "disengagement",      "substance_misuse",
    "other",         NULL};

bool risk_category_known(const char *name) {
  for (const char *const *c = RISK_CATEGORIES; name && *c; c++)
    if (strcmp(*c, name) == 0) return true;
  return false;
}
