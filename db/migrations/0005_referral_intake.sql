-- Referral intake over HTTP (DOMAIN.md care cycle steps 1-2): who triaged and who decided, a
-- partner's own case reference, and at most one open episode per person and team.

ALTER TABLE referrals
  -- The sending organisation's own reference, so its system can match our answer to its case.
  ADD COLUMN external_reference text
    CHECK (char_length(external_reference) BETWEEN 1 AND 100),
  ADD COLUMN triaged_at timestamptz,
  ADD COLUMN triaged_by text CHECK (char_length(triaged_by) BETWEEN 1 AND 200),
  ADD COLUMN decided_by text CHECK (char_length(decided_by) BETWEEN 1 AND 200);

-- A partner's system that retries without an Idempotency-Key still cannot send one case twice.
CREATE UNIQUE INDEX referrals_external_reference_key
  ON referrals (source_org, external_reference)
  WHERE source_org IS NOT NULL AND external_reference IS NOT NULL;
-- Managers' lists by responding team and by urgency, newest first.
CREATE INDEX referrals_responding_team_idx ON referrals (responding_team_id, received_at, id);
CREATE INDEX referrals_received_idx ON referrals (received_at, id);

-- Accepting a referral for a person who already has an open episode with that team would split
-- one person's care in one team across two records.
DROP INDEX episodes_open_by_service_user_idx;
CREATE UNIQUE INDEX episodes_one_open_per_team ON episodes (service_user_id, team_id)
  WHERE status = 'open';
