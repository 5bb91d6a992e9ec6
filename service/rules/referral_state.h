/* Referral states and response times (DOMAIN.md R-REF-1, R-REF-2). Pure: no database, no clock.
 *
 * R-REF-2: received -> triaged; triaged -> accepted | declined | redirected; received | triaged
 * -> withdrawn. Nothing else: a decided referral never changes state again.
 *
 * R-REF-1: a response is due a fixed interval after receipt, by urgency (policy settings,
 * defaults 4 hours, 72 hours, 28 days). The interval is elapsed time added in UTC: 28 days is
 * 28 x 24 hours, so across a UK clock change the due time shifts by an hour on the wall clock
 * (09:00 GMT received -> 10:00 BST due), never by a day. */
#ifndef CARECOORD_REFERRAL_STATE_H
#define CARECOORD_REFERRAL_STATE_H

#include <stdbool.h>
#include <time.h>

#include "config.h"

enum referral_status {
  REFERRAL_RECEIVED,
  REFERRAL_TRIAGED,
  REFERRAL_ACCEPTED,
  REFERRAL_DECLINED,
  REFERRAL_REDIRECTED,
  REFERRAL_WITHDRAWN,
  REFERRAL_STATUS_COUNT
};

enum referral_urgency { URGENCY_EMERGENCY, URGENCY_URGENT, URGENCY_ROUTINE, URGENCY_COUNT };

/* Names as stored and shown ("received", ...); NULL for an out-of-range value. */
const char *referral_status_name(enum referral_status status);
const char *referral_urgency_name(enum referral_urgency urgency);
/* Parses a name; false when unknown (out is then unchanged). */
bool referral_status_parse(const char *name, enum referral_status *out);
bool referral_urgency_parse(const char *name, enum referral_urgency *out);

/* R-REF-2: may a referral go from one state to the other? */
bool referral_transition_allowed(enum referral_status from, enum referral_status to);
/* Whether the state is a decision (accepted, declined, redirected, withdrawn). */
bool referral_status_is_decided(enum referral_status status);
/* R-REF-2: a decline or a redirect needs a reason. */
bool referral_decision_needs_reason(enum referral_status to);

/* The state a decision verb leads to: accept, decline, redirect, withdraw. False when unknown. */
bool referral_decision_parse(const char *decision, enum referral_status *to);

/* R-REF-3: an urgent or emergency referral goes to a crisis / home treatment team; routing it to
 * any other team needs the triager's recorded reason. */
bool referral_local_team_needs_reason(enum referral_urgency urgency, bool team_is_crisis);

/* R-REF-1: when a response is due for a referral of this urgency received at received_at (UTC
 * seconds); (time_t)-1 for an unknown urgency or a missing policy. */
time_t referral_response_due(enum referral_urgency urgency, time_t received_at,
                             const struct policy *policy);

#endif
