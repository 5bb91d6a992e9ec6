-- Caseloads at a month's end (GET /reports/caseloads) read, for every episode open then, who held
-- it and whether it was on CPA. Every column they read is in this index, so a region's month is
-- an index-only scan of it rather than a pass over the whole facts rows (half the time at 100,000
-- people). Index-only scans skip the table only for pages the visibility map marks all-visible:
-- autovacuum visits the facts after 2% of them change rather than the default 20%.
CREATE INDEX episode_facts_caseload_idx ON episode_facts
  (opened_on, closed_on, current_allocation_started_at)
  INCLUDE (team_id, holder_staff_id, external_holder_name, cpa_days);

ALTER TABLE episode_facts SET (autovacuum_vacuum_scale_factor = 0.02,
                               autovacuum_vacuum_insert_scale_factor = 0.02);
