-- Partner agency exchange (seed 000 §2.5, seed 004): the partner organisations the service
-- knows, what clinical staff share with them and on which lawful basis, and each organisation's
-- event feed, written by triggers in the transaction of the change (a transactional outbox).

-- The organisations whose systems hold the `partner` role; the token's `org` claim is the code.
-- Registered by operators (`carecoord partner-add`); a deactivated organisation is refused.
CREATE TABLE partner_organisations (
  code            text PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  kind            text NOT NULL CHECK (kind IN ('adult_social_care', 'probation',
                    'drug_and_alcohol', 'other')),
  active          boolean NOT NULL DEFAULT true,
  -- The number of the organisation's latest event. Events are numbered 1, 2, 3... per
  -- organisation; taking the next number locks this row until the transaction ends, so numbers
  -- are given in commit order and a reader who has seen n has seen everything before it.
  last_event_seq  bigint NOT NULL DEFAULT 0 CHECK (last_event_seq >= 0),
  created_at      timestamptz NOT NULL DEFAULT now()
);

-- What is shared with a partner: a referral for a Care Act assessment of the person's needs, a
-- referral for a carer's assessment, a care plan version, or a transfer of care co-ordination.
-- The content is the minimum data set chosen (data_set), taken from the record when shared and
-- never changed; the lawful basis says why sharing it is allowed (Caldicott, UK GDPR).
CREATE TABLE partner_shares (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  episode_id         uuid NOT NULL REFERENCES episodes (id),
  service_user_id    uuid NOT NULL REFERENCES service_users (id),
  org                text NOT NULL REFERENCES partner_organisations (code),
  kind               text NOT NULL CHECK (kind IN ('care_act_assessment_referral',
                       'carer_assessment_referral', 'care_plan', 'transfer')),
  carer_id           uuid REFERENCES carers (id),
  care_plan_id       uuid REFERENCES care_plans (id),
  care_plan_version  integer,
  transfer_id        uuid REFERENCES transfers (id),
  lawful_basis       text NOT NULL CHECK (lawful_basis IN ('consent', 'safeguarding',
                       'care_act_duty', 'court_order', 'crime_prevention', 'vital_interests')),
  consent_given_on   date,
  basis_note         text CHECK (char_length(basis_note) BETWEEN 1 AND 2000),
  data_set           text[] NOT NULL CHECK (cardinality(data_set) >= 1),
  content            jsonb NOT NULL CHECK (jsonb_typeof(content) = 'object'),
  message            text CHECK (char_length(message) BETWEEN 1 AND 2000),
  status             text NOT NULL DEFAULT 'sent' CHECK (status IN ('sent', 'acknowledged',
                       'accepted', 'rejected', 'withdrawn')),
  created_at         timestamptz NOT NULL DEFAULT now(),
  created_by         text NOT NULL CHECK (char_length(created_by) BETWEEN 1 AND 200),
  acknowledged_at    timestamptz,
  acknowledged_by    text CHECK (char_length(acknowledged_by) BETWEEN 1 AND 200),
  decided_at         timestamptz,
  decided_by         text CHECK (char_length(decided_by) BETWEEN 1 AND 200),
  rejection_reason   text CHECK (char_length(rejection_reason) BETWEEN 1 AND 2000),
  withdrawn_at       timestamptz,
  withdrawn_by       text CHECK (char_length(withdrawn_by) BETWEEN 1 AND 200),
  withdrawal_reason  text CHECK (char_length(withdrawal_reason) BETWEEN 1 AND 2000),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  version            integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  CONSTRAINT partner_shares_consent CHECK (
    (lawful_basis = 'consent') = (consent_given_on IS NOT NULL)),
  CONSTRAINT partner_shares_gateway_named CHECK (
    lawful_basis = 'consent' OR basis_note IS NOT NULL),
  CONSTRAINT partner_shares_carer CHECK (
    (kind = 'carer_assessment_referral') = (carer_id IS NOT NULL)),
  CONSTRAINT partner_shares_care_plan CHECK (
    (kind = 'care_plan') = (care_plan_id IS NOT NULL AND care_plan_version IS NOT NULL)),
  CONSTRAINT partner_shares_transfer CHECK ((kind = 'transfer') = (transfer_id IS NOT NULL)),
  CONSTRAINT partner_shares_decision CHECK (
    (status IN ('accepted', 'rejected')) = (decided_at IS NOT NULL)),
  CONSTRAINT partner_shares_rejection CHECK ((status = 'rejected') = (rejection_reason IS NOT NULL)),
  CONSTRAINT partner_shares_withdrawal CHECK (
    (status = 'withdrawn') = (withdrawn_at IS NOT NULL AND withdrawal_reason IS NOT NULL))
);
CREATE INDEX partner_shares_org_idx ON partner_shares (org, created_at, id);
CREATE INDEX partner_shares_episode_idx ON partner_shares (episode_id, created_at, id);
-- A transfer is offered to one partner at a time.
CREATE UNIQUE INDEX partner_shares_one_per_transfer ON partner_shares (transfer_id)
  WHERE status NOT IN ('rejected', 'withdrawn');

-- What was shared stays as it was shared; a share that is over (rejected, withdrawn) stays so.
CREATE FUNCTION partner_shares_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.content, NEW.data_set, NEW.org, NEW.kind, NEW.lawful_basis, NEW.episode_id)
     IS DISTINCT FROM (OLD.content, OLD.data_set, OLD.org, OLD.kind, OLD.lawful_basis,
                       OLD.episode_id) THEN
    RAISE EXCEPTION 'what partner share % shared cannot change', OLD.id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF OLD.status IN ('rejected', 'withdrawn') AND NEW.status IS DISTINCT FROM OLD.status THEN
    RAISE EXCEPTION 'partner share % is % and cannot change status', OLD.id, OLD.status
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER partner_shares_guard BEFORE UPDATE ON partner_shares
  FOR EACH ROW EXECUTE FUNCTION partner_shares_guard();

-- The outbox: an organisation's events, in the order they committed. An event names what
-- changed (the resource, its version) and how; the partner reads the resource itself, through
-- the same access checks as any read, so an event carries nothing the partner may not see.
CREATE TABLE partner_events (
  org               text NOT NULL REFERENCES partner_organisations (code),
  seq               bigint NOT NULL CHECK (seq >= 1),
  type              text NOT NULL CHECK (char_length(type) BETWEEN 1 AND 100),
  resource_type     text NOT NULL CHECK (resource_type IN ('partner_share', 'referral')),
  resource_id       uuid NOT NULL,
  resource_version  integer NOT NULL,
  occurred_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org, seq)
);

-- Appends the event `type` about a resource to organisation o's feed, when o is registered.
CREATE FUNCTION partner_event_append(o text, type text, resource_type text, resource_id uuid,
                                     resource_version integer) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
  WITH next AS (
    UPDATE partner_organisations SET last_event_seq = last_event_seq + 1
     WHERE code = o RETURNING last_event_seq)
  INSERT INTO partner_events (org, seq, type, resource_type, resource_id, resource_version)
  SELECT o, next.last_event_seq, type, resource_type, resource_id, resource_version FROM next
$$;

-- share.sent, share.acknowledged, share.accepted, share.rejected, share.withdrawn.
CREATE FUNCTION partner_events_of_shares() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
    PERFORM partner_event_append(NEW.org, 'share.' || NEW.status, 'partner_share', NEW.id,
                                 NEW.version);
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER partner_events_of_shares AFTER INSERT OR UPDATE ON partner_shares
  FOR EACH ROW EXECUTE FUNCTION partner_events_of_shares();

-- referral.received, referral.triaged, referral.accepted, ...: the referrals an organisation
-- sent (source_org is its code, as the partner's own reads see them).
CREATE FUNCTION partner_events_of_referrals() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF NEW.source_org IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status)
  THEN
    PERFORM partner_event_append(NEW.source_org, 'referral.' || NEW.status, 'referral', NEW.id,
                                 NEW.version);
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER partner_events_of_referrals AFTER INSERT OR UPDATE ON referrals
  FOR EACH ROW EXECUTE FUNCTION partner_events_of_referrals();

-- Webhooks: an organisation's URL, its signing secret, and how far delivery has got (every
-- event up to delivered_seq was acknowledged with a 2xx), so nothing is lost across restarts.
CREATE TABLE partner_webhooks (
  org               text PRIMARY KEY REFERENCES partner_organisations (code),
  url               text NOT NULL CHECK (char_length(url) BETWEEN 8 AND 2000),
  secret            text NOT NULL CHECK (char_length(secret) >= 32),
  delivered_seq     bigint NOT NULL DEFAULT 0 CHECK (delivered_seq >= 0),
  failures          integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
  next_attempt_at   timestamptz NOT NULL DEFAULT now(),
  last_error        text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

DO $$
DECLARE
  app text := current_setting('carecoord.app_role');
BEGIN
  EXECUTE format('GRANT SELECT ON partner_organisations, partner_events TO %I', app);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON partner_shares TO %I', app);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON partner_webhooks TO %I', app);
END
$$;
