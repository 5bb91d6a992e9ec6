#include "rules/allocation_rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/clocks.h"

static const char *const ROLE_NAMES[ALLOCATION_ROLE_COUNT] = {
    "care_coordinator", "lead_professional", "interim_named_nurse"};
static const char *const LEVEL_NAMES[CARE_LEVEL_COUNT] = {"cpa", "non_cpa"};

const char *allocation_role_name(enum allocation_role role) {
  return (unsigned)role < ALLOCATION_ROLE_COUNT ? ROLE_NAMES[role] : NULL;
}

const char *care_level_name(enum care_level level) {
  return (unsigned)level < CARE_LEVEL_COUNT ? LEVEL_NAMES[level] : NULL;
}

bool allocation_role_parse(const char *name, enum allocation_role *out) {
  for (int i = 0; name && i < ALLOCATION_ROLE_COUNT; i++)
    if (strcmp(name, ROLE_NAMES[i]) == 0) {
      *out = (enum allocation_role)i;
      return true;
    }
  return false;
}

bool care_level_parse(const char *name, enum care_level *out) {
  for (int i = 0; name && i < CARE_LEVEL_COUNT; i++)
    if (strcmp(name, LEVEL_NAMES[i]) == 0) {
      *out = (enum care_level)i;
      return true;
    }
  return false;
}

enum allocation_role allocation_role_for_care_level(enum care_level level) {
  return level == CARE_LEVEL_CPA ? ALLOCATION_CARE_COORDINATOR : ALLOCATION_LEAD_PROFESSIONAL;
}

bool allocation_role_coordinates(enum allocation_role role) {
  return role == ALLOCATION_CARE_COORDINATOR || role == ALLOCATION_LEAD_PROFESSIONAL;
}

enum role_fit allocation_role_fit(enum allocation_role role, enum care_level level,
                                  bool inpatient_ward, bool coordinator_allocated_before) {
  if (role == ALLOCATION_INTERIM_NAMED_NURSE) {
    if (!inpatient_ward) return FIT_INTERIM_NOT_INPATIENT;
    if (coordinator_allocated_before) return FIT_INTERIM_AFTER_COORDINATOR;
    return FIT_OK;
  }
  return role == allocation_role_for_care_level(level) ? FIT_OK : FIT_WRONG_FOR_CARE_LEVEL;
}

void allocation_due_date(time_t clock_start, int days, char out[11]) {
  char start[11];
  uk_local_date(clock_start, start);
  long day = days_from_civil(atoi(start), atoi(start + 5), atoi(start + 8)) + days;
  /* Noon UTC of that day: its UTC date is the calendar date wanted. */
  time_t noon = (time_t)(day * 86400L + 43200L);
  struct tm tm;
  gmtime_r(&noon, &tm);
  char buf[40];
  snprintf(buf, sizeof buf, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  memcpy(out, buf, 10);
  out[10] = '\0';
}
