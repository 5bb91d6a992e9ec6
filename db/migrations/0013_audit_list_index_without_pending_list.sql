-- A list read names every person it showed (details.service_user_ids), and a team's worklist
-- names a thousand or more. GIN's pending list takes such entries cheaply, then merges them
-- into the index inside whichever insert finds the list full: that insert waits hundreds of
-- milliseconds (a team's worklist: p50 80 ms, p99 240 ms at the benchmark's scale). Inserting
-- into the index directly costs each list read a little, every time, instead (p99 under
-- 130 ms), and the access log never has a pending list to scan.
ALTER INDEX audit_events_listed_people_idx SET (fastupdate = off);
