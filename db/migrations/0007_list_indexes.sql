-- Indexes for lists measured at the benchmark's scale (100,000 people, a million audit events;
-- README "Performance").
--
-- The intake worklist (GET /referrals) is ordered by response due time: with this index it walks
-- the referrals in that order and stops when its page is full, instead of sorting every referral
-- the caller may see (3.8 s for a manager's first page, 18 ms with the index).
CREATE INDEX referrals_due_idx ON referrals (response_due_at, id);
-- The same order for the referrals still waiting for a decision (?status=received, ?overdue=):
-- with the id, the index gives the whole order and the list stops after a page.
DROP INDEX referrals_undecided_due_idx;
CREATE INDEX referrals_undecided_due_idx ON referrals (response_due_at, id)
  WHERE status IN ('received', 'triaged');

-- A person's access log includes the list reads whose page showed them: for lists of records
-- about people (referrals, episodes, allocations) those name the people in
-- details.service_user_ids. Without this index the access log scanned the whole trail.
-- Built without CONCURRENTLY because migrations run in a transaction: writes to audit_events
-- wait for the build (seconds for a million events; plan the migration for a quiet moment).
CREATE INDEX audit_events_listed_people_idx ON audit_events
  USING gin ((details -> 'service_user_ids')) WHERE service_user_id IS NULL;

-- Refusals and break-glass reads are rare and what auditors look for first (GET /audit-events
-- ?action=deny, ?break_glass=true); newest first, the whole trail was scanned back to the last
-- one found (2.8 s over five million events).
CREATE INDEX audit_events_exceptional_idx ON audit_events (action, id)
  WHERE action IN ('deny', 'break_glass');

-- A co-ordinator's referral list: the referrals they made, beside those about their caseload.
CREATE INDEX referrals_created_by_idx ON referrals (created_by);
