-- Idempotency keys expire (CARECOORD_IDEMPOTENCY_TTL_H, 24 hours by default): each claim of a key
-- deletes a few expired ones, oldest first, found through this index.
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
