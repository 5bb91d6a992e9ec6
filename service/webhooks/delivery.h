/* Webhook deliveries: background threads of `carecoord serve` that post each partner
 * organisation's events to the URL it registered (PUT /partners/me/webhook), signed with its
 * secret, until the receiver acknowledges them with a 2xx.
 *
 * Each thread has its own database connection (reconnecting after failures, like the audit
 * sealer) and repeats: lease one due webhook (active organisation, events after delivered_seq,
 * next_attempt_at reached, no live lease) with FOR UPDATE SKIP LOCKED, read up to `batch` of its
 * events, post them, and record the outcome: delivered_seq moves on after a 2xx; anything else
 * counts a failure and waits rules/webhook_rules.h's backoff. The lease (migration 0016) is
 * taken and given back in short transactions, so no transaction stays open while a receiver
 * answers, and two instances on one database never post the same batch at once. Delivery is at
 * least once: a batch whose acknowledgement was lost is posted again.
 *
 * Nothing here can stop the service: failures are logged (never a secret, a path or a query)
 * and retried. */
#ifndef CARECOORD_WEBHOOKS_DELIVERY_H
#define CARECOORD_WEBHOOKS_DELIVERY_H

#include "config.h"

/* How long a lease outlives the longest delivery: a lease left by an instance that died ends
 * this long after that delivery's time-out, and another instance takes the webhook over. */
#define WEBHOOK_LEASE_SPARE_MS 60000

struct webhooks;

/* Starts settings->threads delivery threads on conninfo (connecting lazily, so a database that is
 * down at start-up is retried). Returns NULL when there are none (threads 0, or they cannot be
 * created, which is logged); the events then wait in the outbox for another instance or a
 * restart. curl_global_init must have been called. */
struct webhooks *webhooks_start(const char *conninfo, const struct webhook_settings *settings);
/* Stops the threads: a delivery under way is abandoned (its lease given back, no failure
 * counted, so it is posted again first thing after a restart). NULL is ignored. */
void webhooks_stop(struct webhooks *w);

#endif
