-- The application role adds to the audit trail only what the service itself writes (R-AUD-2).
--
-- The service's one insert into audit_events names the columns it fills; id, occurred_at and
-- txid come from their defaults. With INSERT on the whole table the role could still choose
-- them: an id taken ahead of the identity (OVERRIDING SYSTEM VALUE) makes every later audited
-- write fail on the duplicate, an occurred_at in the past backdates an event, and a txid out of
-- the sealer's order leaves an event unsealed. Column privileges allow exactly the service's
-- columns, so those three are always the database's own. Likewise the sealer's links get their
-- sealed_at from the clock.

DO $$
DECLARE
  app text := current_setting('carecoord.app_role');
BEGIN
  EXECUTE format('REVOKE INSERT ON audit_events, audit_chain FROM %I', app);
  EXECUTE format('GRANT INSERT (actor, roles, action, resource_type, resource_id, service_user_id,'
                 ' request_id, client_address, outcome, details) ON audit_events TO %I', app);
  EXECUTE format('GRANT INSERT (event_id, seq, prev_hash, hash) ON audit_chain TO %I', app);
END
$$;
