#include "rules/referral_state.h"

#include <string.h>

static const char *const STATUS_NAMES[REFERRAL_STATUS_COUNT] = {
    "received", "triaged", "accepted", "declined", "redirected", "withdrawn"};
static const char *const URGENCY_NAMES[URGENCY_COUNT] = {"emergency", "urgent", "routine"};

const char *referral_status_name(enum referral_status status) {
  return (unsigned)status < REFERRAL_STATUS_COUNT ? STATUS_NAMES[status] : NULL;
}

const char *referral_urgency_name(enum referral_urgency urgency) {
  return (unsigned)urgency < URGENCY_COUNT ? URGENCY_NAMES[urgency] : NULL;
}

bool referral_status_parse(const char *name, enum referral_status *out) {
  for (int i = 0; name && i < REFERRAL_STATUS_COUNT; i++)
    if (strcmp(name, STATUS_NAMES[i]) == 0) {
      *out = (enum referral_status)i;
      return true;
    }
  return false;
}

bool referral_urgency_parse(const char *name, enum referral_urgency *out) {
  for (int i = 0; name && i < URGENCY_COUNT; i++)
    if (strcmp(name, URGENCY_NAMES[i]) == 0) {
      *out = (enum referral_urgency)i;
      return true;
    }
  return false;
}

bool referral_transition_allowed(enum referral_status from, enum referral_status to) {
  switch (from) {
    case REFERRAL_RECEIVED:
      return to == REFERRAL_TRIAGED || to == REFERRAL_WITHDRAWN;
    case REFERRAL_TRIAGED:
      return to == REFERRAL_ACCEPTED || to == REFERRAL_DECLINED || to == REFERRAL_REDIRECTED ||
             to == REFERRAL_WITHDRAWN;
    default:
      return false;
  }
}

bool referral_status_is_decided(enum referral_status status) {
  return status == REFERRAL_ACCEPTED || status == REFERRAL_DECLINED ||
         status == REFERRAL_REDIRECTED || status == REFERRAL_WITHDRAWN;
}

bool referral_decision_needs_reason(enum referral_status to) {
  return to == REFERRAL_DECLINED || to == REFERRAL_REDIRECTED;
}

bool referral_decision_parse(const char *decision, enum referral_status *to) {
  static const struct {
    const char *verb;
    enum referral_status to;
  } VERBS[] = {{"accept", REFERRAL_ACCEPTED},
               {"decline", REFERRAL_DECLINED},
               {"redirect", REFERRAL_REDIRECTED},
               {"withdraw", REFERRAL_WITHDRAWN}};
  for (size_t i = 0; decision && i < sizeof VERBS / sizeof VERBS[0]; i++)
    if (strcmp(decision, VERBS[i].verb) == 0) {
      *to = VERBS[i].to;
      return true;
    }
  return false;
}

bool referral_local_team_needs_reason(enum referral_urgency urgency, bool team_is_crisis) {
  return (urgency == URGENCY_EMERGENCY || urgency == URGENCY_URGENT) && !team_is_crisis;
}

time_t referral_response_due(enum referral_urgency urgency, time_t received_at,
                             const struct policy *policy) {
  if (!policy) return (time_t)-1;
  switch (urgency) {
    case URGENCY_EMERGENCY:
      return received_at + (time_t)policy->referral_response_emergency_hours * 3600;
    case URGENCY_URGENT:
      return received_at + (time_t)policy->referral_response_urgent_hours * 3600;
    case URGENCY_ROUTINE:
      return received_at + (time_t)policy->referral_response_routine_days * 86400;
    default:
      return (time_t)-1;
  }
}
