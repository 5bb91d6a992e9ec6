-- Incremental extracts (GET /extracts/{table}?since=...) read the rows changed at or after a
-- time, in order of that change. These indexes let a small increment be found and read in
-- order without scanning and sorting a whole table. The derived extracts (CPA periods, and the
-- referrals' and follow-ups' changes through related rows) combine several tables' times and
-- are read whole.
CREATE INDEX referrals_updated_idx ON referrals (updated_at, id);
CREATE INDEX allocations_coordinator_updated_idx ON allocations (updated_at, id)
  WHERE role = 'care_coordinator';
CREATE INDEX care_plans_updated_idx ON care_plans (updated_at, id);
CREATE INDEX care_plan_agreements_recorded_idx ON care_plan_agreements (recorded_at, id);
CREATE INDEX reviews_held_cpa_updated_idx ON reviews (updated_at, id)
  WHERE status = 'held' AND care_level_before = 'cpa';
