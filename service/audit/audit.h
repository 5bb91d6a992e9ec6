/* The audit trail (R-AUD-1): one event per create, update, read or refusal concerning a record,
 * appended in the caller's transaction so the change and its event commit or roll back together.
 * Events carry identifiers and field names, never free clinical text or tokens. */
#ifndef CARECOORD_AUDIT_H
#define CARECOORD_AUDIT_H

#include <jansson.h>

#include "db/db.h"

struct audit_actor {
  const char *subject;        /* token `sub`, or "anonymous" before authentication */
  const char *roles;          /* PostgreSQL array literal of role names, e.g. {manager} */
  const char *request_id;
  const char *client_address;
};

struct audit_event {
  const char *action;          /* create, read, update, delete, deny, break_glass, export */
  const char *resource_type;   /* service_user, team, staff, ... */
  const char *resource_id;     /* may be NULL (lists) */
  const char *service_user_id; /* the person the record is about, or NULL */
  const char *outcome;         /* success, denied, failed */
  const json_t *details;       /* borrowed; e.g. changed fields, ids returned; may be NULL */
};

/* Appends the event in tx. It is written with the transaction's next statement or its commit
 * (tx_defer), which report its failure: a transaction never commits without its events. */
enum cc_status audit_append(struct tx *tx, const struct audit_actor *actor,
                            const struct audit_event *event);

#endif
