-- Allocations in full (DOMAIN.md care cycle step 3; R-ALC-1..4) and the service user's requests
-- to change co-ordinator (000 §3.8). The CHECKs repeat the rules the service enforces first, as
-- the last line of defence.

-- Ended allocations from before this migration may lack a reason; they get one that says so,
-- because from now on every ended allocation has one (R-ALC-1).
UPDATE allocations SET end_reason = 'Not recorded (ended before end reasons were required).'
 WHERE ended_at IS NOT NULL AND end_reason IS NULL;

ALTER TABLE allocations
  ALTER COLUMN holder_staff_id DROP NOT NULL,
  -- A holder outside the trust, e.g. the probation service co-ordinating a community drug
  -- rehabilitation requirement (seed 004).
  ADD COLUMN external_holder_name text
    CHECK (char_length(external_holder_name) BETWEEN 1 AND 200),
  ADD COLUMN external_holder_organisation text
    CHECK (char_length(external_holder_organisation) BETWEEN 1 AND 200),
  ADD COLUMN external_holder_contact text
    CHECK (char_length(external_holder_contact) BETWEEN 1 AND 200),
  -- R-ALC-3: the service user's preferences and whether they were met. NULL only on rows made
  -- before this migration (nothing was recorded then); the service always records them.
  ADD COLUMN preferred_coordinator_gender text
    CHECK (preferred_coordinator_gender IN ('male', 'female', 'other', 'no_preference')),
  ADD COLUMN preferred_cultural_religious_needs text
    CHECK (char_length(preferred_cultural_religious_needs) BETWEEN 1 AND 2000),
  ADD COLUMN preferences_met boolean,
  ADD COLUMN preferences_not_met_reason text
    CHECK (char_length(preferences_not_met_reason) BETWEEN 1 AND 2000),
  ADD COLUMN replaces_allocation_id uuid,
  -- Rows inserted outside the service are attributed to the database role that inserted them.
  ADD COLUMN created_by text NOT NULL DEFAULT current_user
    CHECK (char_length(created_by) BETWEEN 1 AND 200),
  ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
  ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  ADD CONSTRAINT allocations_end_reason_length CHECK (char_length(end_reason) BETWEEN 1 AND 2000),
  -- R-ALC-1: an ended allocation is kept as history with its reason.
  ADD CONSTRAINT allocations_end_reason_when_ended CHECK (
    ended_at IS NULL OR end_reason IS NOT NULL),
  ADD CONSTRAINT allocations_end_reason_only_when_ended CHECK (
    end_reason IS NULL OR ended_at IS NOT NULL),
  ADD CONSTRAINT allocations_ended_after_start CHECK (ended_at IS NULL OR ended_at >= started_at),
  -- Exactly one holder: a staff member or an external holder (name, organisation, contact).
  ADD CONSTRAINT allocations_one_holder CHECK (
    (holder_staff_id IS NOT NULL) <> (external_holder_name IS NOT NULL)),
  ADD CONSTRAINT allocations_external_holder_complete CHECK (
    (external_holder_name IS NULL) = (external_holder_organisation IS NULL)
    AND (external_holder_name IS NULL) = (external_holder_contact IS NULL)),
  -- R-ALC-2: the interim named nurse is a ward nurse, never an external holder.
  ADD CONSTRAINT allocations_interim_named_nurse_is_staff CHECK (
    role <> 'interim_named_nurse' OR holder_staff_id IS NOT NULL),
  -- R-ALC-4: the deputy covers the holder's absence, so is someone else.
  ADD CONSTRAINT allocations_deputy_not_holder CHECK (deputy_staff_id <> holder_staff_id),
  -- R-ALC-3: preferences are recorded together, and a preference not met needs its reason.
  ADD CONSTRAINT allocations_preferences_complete CHECK (
    (preferred_coordinator_gender IS NULL) = (preferences_met IS NULL)
    AND (preferred_cultural_religious_needs IS NULL OR preferences_met IS NOT NULL)),
  ADD CONSTRAINT allocations_preferences_not_met_reason CHECK (
    (preferences_met IS NOT DISTINCT FROM false) = (preferences_not_met_reason IS NOT NULL)),
  ADD CONSTRAINT allocations_id_episode_key UNIQUE (id, episode_id),
  -- A successor replaces an allocation of the same episode, and each allocation has at most one
  -- successor (a second guard, beside the one-current index, against two concurrent handovers).
  ADD CONSTRAINT allocations_replaces_same_episode_fk
    FOREIGN KEY (replaces_allocation_id, episode_id) REFERENCES allocations (id, episode_id),
  ADD CONSTRAINT allocations_replaces_key UNIQUE (replaces_allocation_id),
  ADD CONSTRAINT allocations_replaces_other CHECK (replaces_allocation_id <> id);

CREATE INDEX allocations_history_idx ON allocations (episode_id, started_at, id);

-- The service user's requests to change co-ordinator (000 §3.8): recorded by a clinician with
-- access to the record, decided by a manager of the team holding the episode. An approval
-- names the allocation it produced.
CREATE TABLE allocation_change_requests (
  id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  episode_id              uuid NOT NULL REFERENCES episodes (id),
  -- The allocation the service user asked to change (current when the request was recorded).
  allocation_id           uuid NOT NULL,
  requested_at            timestamptz NOT NULL DEFAULT now(),
  reason                  text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 2000),
  requested_by            text NOT NULL CHECK (char_length(requested_by) BETWEEN 1 AND 200),
  status                  text NOT NULL DEFAULT 'requested'
                            CHECK (status IN ('requested', 'approved', 'declined')),
  decision_reason         text CHECK (char_length(decision_reason) BETWEEN 1 AND 2000),
  decided_at              timestamptz,
  decided_by              text CHECK (char_length(decided_by) BETWEEN 1 AND 200),
  resulting_allocation_id uuid,
  updated_at              timestamptz NOT NULL DEFAULT now(),
  version                 integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  CONSTRAINT allocation_change_requests_allocation_fk FOREIGN KEY (allocation_id, episode_id)
    REFERENCES allocations (id, episode_id),
  CONSTRAINT allocation_change_requests_result_fk FOREIGN KEY (resulting_allocation_id, episode_id)
    REFERENCES allocations (id, episode_id),
  -- A decision has its time, its maker and its reason; an undecided request has none of them.
  CONSTRAINT allocation_change_requests_decision CHECK (
    (status = 'requested') = (decided_at IS NULL)
    AND (decided_at IS NULL) = (decided_by IS NULL)
    AND (decided_at IS NULL) = (decision_reason IS NULL)),
  -- An approval produced the new allocation; nothing else names one.
  CONSTRAINT allocation_change_requests_result CHECK (
    (status = 'approved') = (resulting_allocation_id IS NOT NULL)),
  CONSTRAINT allocation_change_requests_decided_after CHECK (decided_at >= requested_at)
);
-- One undecided request per episode at a time.
CREATE UNIQUE INDEX allocation_change_requests_one_open ON allocation_change_requests (episode_id)
  WHERE status = 'requested';
CREATE INDEX allocation_change_requests_episode_idx
  ON allocation_change_requests (episode_id, requested_at, id);

DO $$
DECLARE
  app text := current_setting('carecoord.app_role');
BEGIN
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON allocation_change_requests TO %I', app);
END
$$;
