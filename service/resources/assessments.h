/* What resources/assessments.c shares with the transfers, whose handover carries the person's
 * risk summary as GET /service-users/{id}/risk-summary shows it (R-TRF-2). */
#ifndef CARECOORD_ASSESSMENTS_H
#define CARECOORD_ASSESSMENTS_H

#include <jansson.h>

#include "db/db.h"

/* The risk summary of the person, as GET /service-users/{id}/risk-summary replies it, read in
 * tx: *summary is a new reference on CC_OK (NULL otherwise). The caller has decided access. */
enum cc_status risk_summary_of(struct tx *tx, const char *person, json_t **summary);

#endif
