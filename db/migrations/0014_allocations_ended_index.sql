-- The caseloads of every team at the end of a past month look up the holders whose allocation
-- has ended since, from the allocations ended after that day, rather than from every episode.
CREATE INDEX allocations_ended_idx ON allocations (ended_at) WHERE ended_at IS NOT NULL;
