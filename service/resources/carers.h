/* What other resources ask of a person's carers (resources/carers.c): whether the person's
 * consent lets information be shared with one (R-CAR-1). */
#ifndef CARECOORD_CARERS_H
#define CARECOORD_CARERS_H

#include "db/db.h"
#include "http/problem.h"

/* R-CAR-1: carer_id must name a carer of the person whose consent is given and covers scope
 * (rules/carer_rules.h CONSENT_SCOPES); otherwise an error at pointer, with the rule, is added to
 * errors. *name receives the carer's name (caller frees) when it does. Returns a database
 * failure, not replied, or CC_OK. */
enum cc_status carer_consent_check(struct tx *tx, const char *person, const char *carer_id,
                                   const char *scope, const char *pointer,
                                   struct field_errors *errors, char **name);

#endif
