/* The audit sealer: a background thread of `carecoord serve` that appends finished audit
 * events to the hash chain (audit/chain.h) every SEALER_INTERVAL_MS, on its own database
 * connection. Requests never wait for it; it survives database restarts by reconnecting and
 * only ever logs its failures. */
#ifndef CARECOORD_AUDIT_SEALER_H
#define CARECOORD_AUDIT_SEALER_H

#define SEALER_INTERVAL_MS 200

struct sealer;

/* Starts the thread (connecting lazily, so a database that is down at start-up is retried).
 * Returns NULL only when the thread cannot be created; the service then runs unsealed, which
 * GET /audit-events/verify reports as a growing `unsealed` count. */
struct sealer *sealer_start(const char *conninfo);
/* Seals once more (the events of the last requests), stops the thread and frees it.
 * NULL is ignored. */
void sealer_stop(struct sealer *sealer);

#endif
