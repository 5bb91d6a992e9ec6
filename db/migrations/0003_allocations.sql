-- Allocations: who holds a person's open episode (DOMAIN.md "Who uses the service"). A minimal
-- table for the access policy; the intake migration extends it. At most one allocation per
-- episode is current (ended_at IS NULL); ending one and starting the next is how a hand-over
-- is recorded.

CREATE TABLE allocations (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  episode_id      uuid NOT NULL REFERENCES episodes (id),
  role            text NOT NULL CHECK (role IN ('care_coordinator', 'lead_professional',
                    'interim_named_nurse')),
  holder_staff_id uuid NOT NULL REFERENCES staff (id),
  deputy_staff_id uuid REFERENCES staff (id),
  started_at      timestamptz NOT NULL DEFAULT now(),
  ended_at        timestamptz,
  end_reason      text
);
CREATE UNIQUE INDEX allocations_one_current_per_episode ON allocations (episode_id)
  WHERE ended_at IS NULL;
CREATE INDEX allocations_current_by_holder_idx ON allocations (holder_staff_id, episode_id)
  WHERE ended_at IS NULL;
CREATE INDEX allocations_current_by_deputy_idx ON allocations (deputy_staff_id, episode_id)
  WHERE ended_at IS NULL AND deputy_staff_id IS NOT NULL;
-- The policy finds a person's open episodes; a team's open episodes use episodes_open_by_team_idx.
CREATE INDEX episodes_open_by_service_user_idx ON episodes (service_user_id, team_id)
  WHERE status = 'open';

DO $$
DECLARE
  app text := current_setting('carecoord.app_role');
BEGIN
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON allocations TO %I', app);
END
$$;
