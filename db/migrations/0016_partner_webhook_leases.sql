-- Webhook deliveries (webhooks/delivery.h): a delivery thread leases an organisation's webhook
-- while it posts a batch to it, so that two service instances on one database never post the
-- same batch at once, and a request that replaces or deletes the webhook never waits for a
-- slow receiver. The lease is taken and given back in short transactions of their own; one
-- left behind by an instance that died ends at lease_until, and replacing or deleting the
-- webhook drops it, so that a late outcome changes nothing. last_attempt_at is when the last
-- delivery was answered or failed (next_attempt_at - last_attempt_at is the backoff).
ALTER TABLE partner_webhooks
  ADD COLUMN lease_id uuid,
  ADD COLUMN lease_until timestamptz,
  ADD COLUMN last_attempt_at timestamptz,
  ADD CONSTRAINT partner_webhooks_lease CHECK ((lease_id IS NULL) = (lease_until IS NULL));
