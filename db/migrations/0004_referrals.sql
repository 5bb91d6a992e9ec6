-- Referrals and episodes of care (DOMAIN.md care cycle steps 1-2; R-REF-1..4).
-- A referral is about one service user (registered beforehand or in the same transaction) and
-- moves received -> triaged -> accepted | declined | redirected, or is withdrawn before a
-- decision (R-REF-2). The CHECKs below repeat the rules as the last line of defence; the service
-- enforces them first with problems the client can act on.

CREATE TABLE referrals (
  id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  service_user_id    uuid NOT NULL REFERENCES service_users (id),
  source_type        text NOT NULL CHECK (source_type IN ('gp', 'self', 'carer',
                       'emergency_department', 'police', 'adult_social_care', 'probation',
                       'other_team', 'other')),
  source_org         text CHECK (char_length(source_org) BETWEEN 1 AND 200),
  referrer_name      text CHECK (char_length(referrer_name) BETWEEN 1 AND 200),
  referrer_contact   text CHECK (char_length(referrer_contact) BETWEEN 1 AND 200),
  reason             text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 4000),
  presenting_needs   text CHECK (char_length(presenting_needs) <= 4000),
  known_risks        text CHECK (char_length(known_risks) <= 4000),
  urgency            text NOT NULL CHECK (urgency IN ('emergency', 'urgent', 'routine')),
  received_at        timestamptz NOT NULL DEFAULT now(),
  -- R-REF-1: computed by the service from urgency, received_at and the policy settings (UTC).
  response_due_at    timestamptz NOT NULL,
  status             text NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'triaged',
                       'accepted', 'declined', 'redirected', 'withdrawn')),
  triaged_urgency    text CHECK (triaged_urgency IN ('emergency', 'urgent', 'routine')),
  responding_team_id uuid REFERENCES teams (id),
  -- R-REF-3: why the local team, not crisis / home treatment, responds to an urgent referral.
  local_team_reason  text CHECK (char_length(local_team_reason) BETWEEN 1 AND 2000),
  decision_reason    text CHECK (char_length(decision_reason) BETWEEN 1 AND 2000),
  redirected_to      text CHECK (char_length(redirected_to) BETWEEN 1 AND 200),
  decided_at         timestamptz,
  episode_id         uuid,
  created_by         text NOT NULL CHECK (char_length(created_by) BETWEEN 1 AND 200),
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  version            integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  CONSTRAINT referrals_due_after_receipt CHECK (response_due_at > received_at),
  -- Triage sets the urgency and the responding team; every later state keeps them, except a
  -- withdrawal, which may come before triage.
  CONSTRAINT referrals_triage_complete CHECK (
    status IN ('received', 'withdrawn')
    OR (triaged_urgency IS NOT NULL AND responding_team_id IS NOT NULL)),
  -- R-REF-2: a decision has a time; only decided states have one.
  CONSTRAINT referrals_decided_at CHECK (
    (status IN ('accepted', 'declined', 'redirected', 'withdrawn')) = (decided_at IS NOT NULL)),
  -- R-REF-2: a decline or a redirect needs a reason; a redirect names where to.
  CONSTRAINT referrals_decline_reason CHECK (status <> 'declined' OR decision_reason IS NOT NULL),
  CONSTRAINT referrals_redirect_reason CHECK (
    status <> 'redirected' OR (decision_reason IS NOT NULL AND redirected_to IS NOT NULL)),
  CONSTRAINT referrals_redirected_to_only_when_redirected CHECK (
    redirected_to IS NULL OR status = 'redirected'),
  -- R-REF-4: an accepted referral has its episode, and only an accepted one.
  CONSTRAINT referrals_accepted_episode CHECK ((status = 'accepted') = (episode_id IS NOT NULL))
);
CREATE INDEX referrals_service_user_idx ON referrals (service_user_id);
CREATE INDEX referrals_status_idx ON referrals (status, received_at, id);
CREATE INDEX referrals_source_org_idx ON referrals (source_org, received_at, id)
  WHERE source_org IS NOT NULL;
-- Overdue: no decision yet and the response time has passed.
CREATE INDEX referrals_undecided_due_idx ON referrals (response_due_at)
  WHERE status IN ('received', 'triaged');

ALTER TABLE episodes
  ADD COLUMN referral_id uuid REFERENCES referrals (id),
  ADD COLUMN care_level text NOT NULL DEFAULT 'non_cpa' CHECK (care_level IN ('cpa', 'non_cpa')),
  ADD COLUMN care_level_provisional boolean NOT NULL DEFAULT false,
  ADD CONSTRAINT episodes_referral_key UNIQUE (referral_id);

ALTER TABLE referrals
  ADD CONSTRAINT referrals_episode_fk FOREIGN KEY (episode_id) REFERENCES episodes (id),
  ADD CONSTRAINT referrals_episode_key UNIQUE (episode_id);

-- Every change of an episode's care level, the first (provisional) one included.
CREATE TABLE episode_care_level_changes (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  episode_id uuid NOT NULL REFERENCES episodes (id),
  from_level text CHECK (from_level IN ('cpa', 'non_cpa')),
  to_level   text NOT NULL CHECK (to_level IN ('cpa', 'non_cpa')),
  reason     text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 2000),
  changed_at timestamptz NOT NULL DEFAULT now(),
  changed_by text NOT NULL CHECK (char_length(changed_by) BETWEEN 1 AND 200),
  CHECK (from_level IS DISTINCT FROM to_level)
);
CREATE INDEX episode_care_level_changes_episode_idx
  ON episode_care_level_changes (episode_id, changed_at);

DO $$
DECLARE
  app text := current_setting('carecoord.app_role');
BEGIN
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON referrals TO %I', app);
  EXECUTE format('GRANT SELECT, INSERT ON episode_care_level_changes TO %I', app);
END
$$;
