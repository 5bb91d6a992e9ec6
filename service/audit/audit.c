#include "audit/audit.h"

#include <stdlib.h>

static const struct db_stmt INSERT_EVENT = {
    "audit_insert",
    "INSERT INTO audit_events (actor, roles, action, resource_type, resource_id, service_user_id,"
    " request_id, client_address, outcome, details)"
    " VALUES ($1, $2::text[], $3, $4, $5, $6::uuid, $7, $8, $9, $10::jsonb)",
    10};

enum cc_status audit_append(struct tx *tx, const struct audit_actor *actor,
                            const struct audit_event *event) {
  char *details = event->details ? json_dumps(event->details, JSON_COMPACT) : NULL;
  const char *params[] = {actor->subject,    actor->roles,           event->action,
                          event->resource_type, event->resource_id, event->service_user_id,
                          actor->request_id, actor->client_address, event->outcome,
                          details};
  /* Sent with the transaction's next statement or its COMMIT: same transaction, no round trip
   * of its own. */
  enum cc_status status = tx_defer(tx, &INSERT_EVENT, params);
  free(details);
  return status;
}
