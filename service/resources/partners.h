/* Partner organisations (resources/partners.c): the caller's organisation, registered and
 * active, for every route a partner system calls about the exchange (shares, events, webhooks). */
#ifndef CARECOORD_PARTNERS_H
#define CARECOORD_PARTNERS_H

#include <stdbool.h>

#include "auth/principal.h"
#include "db/db.h"
#include "http/exchange.h"

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
