/* Who may hold an episode, and the clocks an allocation starts (DOMAIN.md R-ALC-2, R-ASM-1,
 * R-CPL-1). Pure: no database, no clock.
 *
 * R-ALC-2: an episode on CPA gets a care co-ordinator, an episode not on CPA a lead
 * professional. On an inpatient ward the named nurse may hold the episode as interim named nurse
 * until a co-ordinator is allocated: only on an episode whose team is an inpatient ward, and
 * only while the episode has never had a care co-ordinator or lead professional.
 *
 * R-ASM-1, R-CPL-1: the holistic assessment and the care plan are due a number of days (policy
 * settings, default 28) after allocation. The clocks start with the episode's FIRST care
 * co-ordinator or lead professional allocation: a change of co-ordinator does not restart them
 * (the person has waited since the first one), and an interim named nurse does not start them
 * (the nurse holds the episode only until someone is allocated). The due date is a calendar date
 * in Europe/London: the London date of the allocation's start plus the interval in days, so an
 * allocation at 23:30 UTC in summer counts from the next day, as the people involved see it. */
#ifndef CARECOORD_ALLOCATION_RULES_H
#define CARECOORD_ALLOCATION_RULES_H

#include <stdbool.h>
#include <time.h>

enum allocation_role {
  ALLOCATION_CARE_COORDINATOR,
  ALLOCATION_LEAD_PROFESSIONAL,
  ALLOCATION_INTERIM_NAMED_NURSE,
  ALLOCATION_ROLE_COUNT
};

enum care_level { CARE_LEVEL_CPA, CARE_LEVEL_NON_CPA, CARE_LEVEL_COUNT };

/* R-ALC-2's answer for a proposed allocation. */
enum role_fit {
  FIT_OK,
  FIT_WRONG_FOR_CARE_LEVEL,  /* cpa needs care_coordinator; non_cpa needs lead_professional */
  FIT_INTERIM_NOT_INPATIENT, /* interim_named_nurse on an episode not held by a ward */
  FIT_INTERIM_AFTER_COORDINATOR, /* interim_named_nurse once a co-ordinator was allocated */
};

/* Names as stored and shown; NULL for an out-of-range value. */
const char *allocation_role_name(enum allocation_role role);
const char *care_level_name(enum care_level level);
/* Parses a name; false when unknown (out is then unchanged). */
bool allocation_role_parse(const char *name, enum allocation_role *out);
bool care_level_parse(const char *name, enum care_level *out);

/* R-ALC-2: may an allocation with this role be made on an episode at this care level, held by
 * an inpatient ward or not, that has or has not had a co-ordinating allocation before? */
enum role_fit allocation_role_fit(enum allocation_role role, enum care_level level,
                                  bool inpatient_ward, bool coordinator_allocated_before);
/* The co-ordinating role an episode at this care level gets (R-ALC-2). */
enum allocation_role allocation_role_for_care_level(enum care_level level);
/* Whether an allocation with this role co-ordinates care: it ends the interim named nurse's
 * turn and, as the episode's first, starts the assessment and care-plan clocks. */
bool allocation_role_coordinates(enum allocation_role role);

/* R-ASM-1, R-CPL-1: the Europe/London date `days` days after the London date of the UTC
 * instant `clock_start`, as YYYY-MM-DD. */
void allocation_due_date(time_t clock_start, int days, char out[11]);

#endif
