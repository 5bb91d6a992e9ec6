/* Partner organisations (resources/partners.c): the caller's organisation, registered and
 * active, for every route a partner system calls about the exchange (shares, events, webhooks). */
#ifndef CARECOORD_PARTNERS_H
#define CARECOORD_PARTNERS_H

#include <stdbool.h>

#include "auth/principal.h"
#include "db/db.h"
#include "http/exchange.h"

/* An event of the feed (partner_events row aliased E) as JSON: the same in GET
 * /partners/me/events and in webhook deliveries. It names what changed and where to read it;
 * the read itself goes through the usual checks, so an event carries nothing else. */
#define PARTNER_EVENT_JSON(E)                                                                    \
  "json_build_object('seq', " E ".seq, 'type', " E ".type, 'occurred_at', " E ".occurred_at,"   \
  " 'resource', json_build_object('type', " E ".resource_type, 'id', " E ".resource_id,"         \
  " 'version', " E ".resource_version, 'href', CASE " E ".resource_type"                         \
  " WHEN 'partner_share' THEN '/partners/me/shares/' ELSE '/referrals/' END || " E               \
  ".resource_id))"

struct partner_org {
  char code[PRINCIPAL_ORG_MAX + 1]; /* the token's `org` claim */
  char name[201];
  char kind[32];                    /* adult_social_care, probation, drug_and_alcohol, other */
  long long last_event_seq;         /* the number of its latest event (0: none yet) */
};

/* Finds the caller's organisation (x->principal.org) in tx. Returns true when it is registered
 * and active, filling *org; otherwise it has replied (403 after committing a deny event naming
 * the organisation, or the failure) and the transaction is over. */
bool partner_caller_org(struct exchange *x, struct tx *tx, struct partner_org *org);

#endif
