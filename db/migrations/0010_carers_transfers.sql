-- Carers, transfers, discharge and follow-up (DOMAIN.md care cycle steps 7-8; R-CAR-1..2,
-- R-TRF-1..5). The CHECKs hold what must never be otherwise; the service checks first.

-- R-CAR-1, R-CAR-2: the person's carers, their consent to share, and their own assessment.
CREATE TABLE carers (
  id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  service_user_id           uuid NOT NULL REFERENCES service_users (id),
  name                      text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  relationship              text NOT NULL CHECK (char_length(relationship) BETWEEN 1 AND 100),
  contact                   jsonb NOT NULL CHECK (jsonb_typeof(contact) = 'object'),
  date_of_birth             date,
  -- "Under 18" when the date of birth is not known (a young carer).
  under_18                  boolean,
  lives_with_person         boolean NOT NULL,
  -- The person's consent to share information with the carer: given or refused, when, and what
  -- it covers (scope); NULL: not asked yet.
  consent                   jsonb CHECK (jsonb_typeof(consent) = 'object'),
  information_given_on      date,
  assessment                jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(assessment) = 'object'),
  needs_reviewed_on         date,
  identified_on             date NOT NULL DEFAULT current_date,
  created_at                timestamptz NOT NULL DEFAULT now(),
  created_by                text NOT NULL DEFAULT current_user
                              CHECK (char_length(created_by) BETWEEN 1 AND 200),
  updated_at                timestamptz NOT NULL DEFAULT now(),
  version                   integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  CONSTRAINT carers_age_known CHECK (date_of_birth IS NOT NULL OR under_18 IS NOT NULL),
  CONSTRAINT carers_id_person_key UNIQUE (id, service_user_id)
);
CREATE INDEX carers_person_idx ON carers (service_user_id, created_at, id);

-- R-CAR-1: a carer receives the care plan only with the person's consent; the distribution names
-- the carer it went to.
ALTER TABLE care_plan_distributions ADD COLUMN carer_id uuid REFERENCES carers (id),
  ADD CONSTRAINT care_plan_distributions_carer CHECK (
    (recipient_type = 'carer') = (carer_id IS NOT NULL));

-- R-TRF-1, R-TRF-2: transfers of an episode, proposed with an immutable handover, accepted or
-- rejected by the receiving side, then completed or cancelled.
CREATE TABLE transfers (
  id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  episode_id             uuid NOT NULL REFERENCES episodes (id),
  type                   text NOT NULL CHECK (type IN ('internal_team', 'out_of_area',
                           'hospital_admission', 'hospital_discharge', 'prison',
                           'primary_care_discharge', 'step_down', 'step_up', 'partner_agency')),
  status                 text NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed',
                           'accepted', 'rejected', 'completed', 'cancelled')),
  reason                 text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 2000),
  -- Where the episode goes: a team of the trust, a staff member, or someone outside (a GP
  -- practice, another trust, a prison, a partner agency), and type-specific details.
  receiving_team_id      uuid REFERENCES teams (id),
  receiving_staff_id     uuid REFERENCES staff (id),
  receiving_external     jsonb CHECK (jsonb_typeof(receiving_external) = 'object'),
  details                jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
  handover               jsonb NOT NULL CHECK (jsonb_typeof(handover) = 'object'),
  proposed_at            timestamptz NOT NULL DEFAULT now(),
  proposed_by            text NOT NULL CHECK (char_length(proposed_by) BETWEEN 1 AND 200),
  decided_at             timestamptz,
  decided_by             text CHECK (char_length(decided_by) BETWEEN 1 AND 200),
  rejection_reason       text CHECK (char_length(rejection_reason) BETWEEN 1 AND 2000),
  completed_at           timestamptz,
  completed_by           text CHECK (char_length(completed_by) BETWEEN 1 AND 200),
  -- R-TRF-1: the allocation the completion ended and the one it made (the receiving holder).
  ended_allocation_id    uuid REFERENCES allocations (id),
  resulting_allocation_id uuid REFERENCES allocations (id),
  cancelled_at           timestamptz,
  cancelled_by           text CHECK (char_length(cancelled_by) BETWEEN 1 AND 200),
  cancellation_reason    text CHECK (char_length(cancellation_reason) BETWEEN 1 AND 2000),
  -- Out of area: when the placement ended (R-TRF-4 liaison stops).
  placement_ended_on     date,
  updated_at             timestamptz NOT NULL DEFAULT now(),
  version                integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  -- Decided (accepted or rejected) before anything follows; a cancellation may come before or
  -- after the acceptance.
  CONSTRAINT transfers_decision CHECK (
    (status <> 'proposed' OR decided_at IS NULL)
    AND (status NOT IN ('accepted', 'rejected', 'completed') OR decided_at IS NOT NULL)),
  CONSTRAINT transfers_rejection CHECK ((status = 'rejected') = (rejection_reason IS NOT NULL)),
  CONSTRAINT transfers_completion CHECK ((status = 'completed') = (completed_at IS NOT NULL)),
  CONSTRAINT transfers_cancellation CHECK (
    (status = 'cancelled') = (cancelled_at IS NOT NULL AND cancellation_reason IS NOT NULL)),
  CONSTRAINT transfers_id_episode_key UNIQUE (id, episode_id)
);
-- One transfer in flight per episode: two at once would race for the allocation.
CREATE UNIQUE INDEX transfers_one_open_per_episode ON transfers (episode_id)
  WHERE status IN ('proposed', 'accepted');
CREATE INDEX transfers_episode_idx ON transfers (episode_id, proposed_at, id);
CREATE INDEX transfers_receiving_team_idx ON transfers (receiving_team_id)
  WHERE status IN ('proposed', 'accepted');

-- R-TRF-2: the handover is the record as it was at proposal: nothing changes it.
CREATE FUNCTION transfers_handover_is_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.handover IS DISTINCT FROM OLD.handover THEN
    RAISE EXCEPTION 'the handover of transfer % is immutable', OLD.id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF OLD.status IN ('completed', 'rejected', 'cancelled')
     AND (NEW.status IS DISTINCT FROM OLD.status) THEN
    RAISE EXCEPTION 'transfer % is % and cannot change status', OLD.id, OLD.status
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER transfers_handover_immutable BEFORE UPDATE ON transfers
  FOR EACH ROW EXECUTE FUNCTION transfers_handover_is_immutable();

-- R-TRF-3, R-TRF-4: contacts that satisfy the follow-up after a hospital discharge and the
-- liaison during an out-of-area placement.
CREATE TABLE transfer_contacts (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  transfer_id   uuid NOT NULL REFERENCES transfers (id),
  kind          text NOT NULL CHECK (kind IN ('follow_up', 'liaison')),
  contact_on    date NOT NULL,
  face_to_face  boolean NOT NULL,
  by_staff_id   uuid REFERENCES staff (id),
  by_name       text CHECK (char_length(by_name) BETWEEN 1 AND 200),
  notes         text CHECK (char_length(notes) BETWEEN 1 AND 2000),
  recorded_at   timestamptz NOT NULL DEFAULT now(),
  recorded_by   text NOT NULL CHECK (char_length(recorded_by) BETWEEN 1 AND 200),
  CONSTRAINT transfer_contacts_by CHECK (by_staff_id IS NOT NULL OR by_name IS NOT NULL)
);
CREATE INDEX transfer_contacts_transfer_idx ON transfer_contacts (transfer_id, kind, contact_on);

DO $$
DECLARE
  app text := current_setting('carecoord.app_role');
BEGIN
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON carers, transfers TO %I', app);
  EXECUTE format('GRANT SELECT, INSERT ON transfer_contacts TO %I', app);
END
$$;
