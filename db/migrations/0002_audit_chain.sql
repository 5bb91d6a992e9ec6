-- Audit trail, append-only and tamper-evident (R-AUD-2).
--
-- 1. Triggers refuse UPDATE, DELETE and TRUNCATE on audit_events and audit_chain for every role,
--    the owner included (only someone who can disable triggers, i.e. the owner or a superuser,
--    can change history, and the chain below then shows it). The application role keeps
--    SELECT and INSERT only.
-- 2. Each event records the id of the transaction that inserted it (txid). The sealer in
--    `carecoord serve` appends events to audit_chain, a hash chain, once their inserting
--    transaction has certainly finished, in (txid, id) order. Writers never wait for it and
--    never touch a shared chain head, so they are not serialised.

ALTER TABLE audit_events ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX audit_events_txid_idx ON audit_events (txid, id);
CREATE INDEX audit_events_occurred_idx ON audit_events (occurred_at, id);
-- A person's access log includes list reads whose page showed them (details.ids).
CREATE INDEX audit_events_listed_ids_idx ON audit_events USING gin ((details -> 'ids'))
  WHERE resource_type = 'service_user' AND service_user_id IS NULL;

-- hash = hex SHA-256 of (prev_hash, or '' for the first link) || '\n' || the event's canonical
-- content; seq numbers the links 1, 2, 3, ... without gaps.
CREATE TABLE audit_chain (
  event_id  bigint PRIMARY KEY REFERENCES audit_events (id),
  seq       bigint NOT NULL UNIQUE CHECK (seq >= 1),
  prev_hash text CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  hash      text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
  sealed_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((seq = 1) = (prev_hash IS NULL))
);

CREATE FUNCTION audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit trail is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME;
END
$$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_chain_append_only BEFORE UPDATE OR DELETE ON audit_chain
  FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

DO $$
DECLARE
  app text := current_setting('carecoord.app_role');
BEGIN
  EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_chain FROM %I', app);
  EXECUTE format('GRANT SELECT, INSERT ON audit_chain TO %I', app);
END
$$;
