-- The benchmark's data set: a region's care co-ordination record, made by generate_series.
--
--   psql -v users=100000 -v events=1000000 -f tests/bench/generate.sql   (as the owner role,
--   on a freshly migrated, empty database)
--
-- Everything is a pure function of a row number, so the load scripts can name any row without
-- asking the database first (tests/bench/README.md "Data set"):
--
--   ids             md5('carecoord-bench/<kind>/<n>')::uuid, kind = team, staff, service_user,
--                   episode, referral, allocation (the current one), allocation-ended
--   clinician c     1..:clinicians, subject bench-staff-<c>, in team (c - 1) / 40 + 1
--   manager m       1..:teams, subject bench-manager-<m>, manager of team m
--   person n        1..:users; the person's co-ordinator is clinician (n - 1) % :clinicians + 1
--     n <= 80%      an open episode (accepted referral, current allocation; a third on CPA), and
--                   for n <= 20% an earlier closed episode with another team
--     n <= 95%      a closed episode only
--     otherwise     in intake: a referral received or triaged, no episode
--   assessments     for open episodes: most holistic assessments completed, some risk reviews,
--                   some in progress, TOPs in substance-misuse teams
--   care records    active care plans (some late, some not sent), reviews held at the policy
--                   interval (some late, some missed), carers, hospital discharges with and
--                   without a timely follow-up: what the worklists and reports count
--   audit events    :events events spread over the last year, most of them reads by the
--                   person's co-ordinator, some list reads naming ten people
--
-- NHS numbers are in the 999 range, which is never issued to patients, and pass the Modulus 11
-- check. Names, addresses and free text are fictional and repetitive by design.
\set ON_ERROR_STOP on
\if :{?users}
\else
  \set users 100000
\endif
\if :{?events}
\else
  \set events 1000000
\endif
\set teams 60
\set per_team 40
SELECT :teams * :per_team AS clinicians \gset

BEGIN;
SET LOCAL synchronous_commit = off;

-- The episode facts (migration 0011) are computed once at the end, rather than by their
-- triggers after every statement below (which would also leave each row's old versions behind).
CREATE FUNCTION pg_temp.episode_facts_triggers(enabled boolean) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  t record;
BEGIN
  FOR t IN SELECT tgrelid::regclass::text AS rel, tgname FROM pg_trigger
            WHERE tgname LIKE 'episode\_facts\_%' AND NOT tgisinternal LOOP
    EXECUTE format('ALTER TABLE %s %s TRIGGER %I', t.rel,
                   CASE WHEN enabled THEN 'ENABLE' ELSE 'DISABLE' END, t.tgname);
  END LOOP;
END
$$;
DO $$ BEGIN PERFORM pg_temp.episode_facts_triggers(false); END $$;

CREATE FUNCTION pg_temp.bench_id(kind text, n bigint) RETURNS uuid
  LANGUAGE sql IMMUTABLE AS $$ SELECT md5('carecoord-bench/' || kind || '/' || n)::uuid $$;

-- Modulus 11 check digit of a 9-digit string, or NULL when the number cannot be issued (10).
CREATE FUNCTION pg_temp.nhs_check(base text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE r WHEN 0 THEN '0' WHEN 1 THEN NULL ELSE (11 - r)::text END
    FROM (SELECT (sum(substr(base, i, 1)::int * (11 - i)) % 11)::int AS r
            FROM generate_series(1, 9) AS i) s
$$;

INSERT INTO teams (id, name, type)
SELECT pg_temp.bench_id('team', t), 'Bench team ' || t,
       CASE WHEN t <= 30 THEN 'community_mental_health'
            WHEN t <= 36 THEN 'crisis_home_treatment'
            WHEN t <= 46 THEN 'inpatient_ward'
            WHEN t <= 52 THEN 'early_intervention'
            ELSE 'substance_misuse' END
  FROM generate_series(1, :teams) AS t;

INSERT INTO staff (id, subject, name, professional_role, team_id, gender)
SELECT pg_temp.bench_id('staff', c), 'bench-staff-' || c, 'Clinician ' || c,
       (ARRAY['nurse', 'social_worker', 'occupational_therapist', 'psychologist', 'doctor'])[c % 5 + 1],
       pg_temp.bench_id('team', (c - 1) / :per_team + 1),
       (ARRAY['female', 'male', 'female', 'other'])[c % 4 + 1]
  FROM generate_series(1, :clinicians) AS c;

INSERT INTO staff (id, subject, name, professional_role, team_id, gender)
SELECT pg_temp.bench_id('manager', m), 'bench-manager-' || m, 'Manager ' || m, 'manager',
       pg_temp.bench_id('team', m), (ARRAY['female', 'male'])[m % 2 + 1]
  FROM generate_series(1, :teams) AS m;

INSERT INTO service_users (id, nhs_number, given_name, family_name, date_of_birth, gender,
                           address, gp_practice, preferred_language, interpreter_required,
                           cultural_religious_needs, communication_needs, created_at, updated_at)
SELECT pg_temp.bench_id('service_user', n), nhs,
       (ARRAY['Aisha', 'Thomas', 'Grzegorz', 'Ngozi', 'Sam', 'Margaret', 'Mohammed', 'Li Na',
              'Dafydd', 'Priya', 'Kwame', 'Sinead'])[n % 12 + 1],
       (ARRAY['Begum', 'Whitfield', 'Nowak', 'Adeyemi', 'Taylor', 'O''Connor', 'Rahimi', 'Chen',
              'Hughes', 'Shah', 'Mensah', 'Byrne', 'Smith', 'Jones', 'Williams', 'Evans',
              'Khan', 'Patel', 'Kowalski', 'Murphy'])[n % 20 + 1] || '-' || (n % 997),
       DATE '1940-01-01' + (n * 37 % 25000)::int,
       (ARRAY['female', 'male', 'other', 'unknown'])[n % 4 + 1],
       jsonb_build_object('lines', jsonb_build_array((n % 300 + 1) || ' Bench Street', 'Northfield'),
                          'postcode', 'NF' || (n % 9 + 1) || ' ' || (n % 9) || 'AB'),
       jsonb_build_object('ods_code', 'B8' || lpad((n % 400)::text, 4, '0'),
                          'name', 'Practice ' || (n % 400)),
       (ARRAY['English', 'English', 'English', 'Polish', 'Urdu', 'Welsh'])[n % 6 + 1],
       n % 6 = 3 OR n % 6 = 4,
       CASE WHEN n % 10 = 0 THEN 'Prefers appointments outside prayer times.' END,
       CASE WHEN n % 15 = 0 THEN 'Hearing impaired: face them and speak clearly.' END,
       now() - interval '2 years' + (n % 500) * interval '1 day',
       now() - interval '1 year' + (n % 300) * interval '1 day'
  FROM (SELECT row_number() OVER (ORDER BY k) AS n, base || pg_temp.nhs_check(base) AS nhs
          FROM (SELECT k, '999' || lpad(k::text, 6, '0') AS base
                  -- about one base in eleven has no check digit: enough candidates, no more
                  FROM generate_series(0, least(999999, :users * 12 / 10 + 100)) AS k) candidates
         WHERE pg_temp.nhs_check(base) IS NOT NULL) numbered
 WHERE n <= :users;

-- Who the person is to the generator: their band (open, closed, intake), co-ordinator, team.
CREATE TEMP TABLE bench_people AS
SELECT n,
       CASE WHEN n <= :users * 0.80 THEN 'open' WHEN n <= :users * 0.95 THEN 'closed'
            ELSE 'intake' END AS band,
       (n - 1) % :clinicians + 1 AS clinician,
       ((n - 1) % :clinicians) / :per_team + 1 AS team,
       CASE WHEN n % 3 = 0 THEN 'cpa' ELSE 'non_cpa' END AS care_level,
       now() - ((n % 700) + 120) * interval '1 day' AS opened_at
  FROM generate_series(1, :users) AS n;

-- Episodes first (referral_id follows once the referrals exist: the two reference each other).
INSERT INTO episodes (id, service_user_id, team_id, status, opened_at, closed_at, care_level,
                      care_level_provisional)
SELECT pg_temp.bench_id('episode', n), pg_temp.bench_id('service_user', n),
       pg_temp.bench_id('team', team), CASE band WHEN 'open' THEN 'open' ELSE 'closed' END,
       opened_at, CASE band WHEN 'open' THEN NULL ELSE opened_at + interval '20 days' END,
       care_level, false
  FROM bench_people WHERE band IN ('open', 'closed');
-- An earlier, closed episode with another team for a fifth of the people.
INSERT INTO episodes (id, service_user_id, team_id, status, opened_at, closed_at, care_level)
SELECT pg_temp.bench_id('episode-past', n), pg_temp.bench_id('service_user', n),
       pg_temp.bench_id('team', team % :teams + 1), 'closed', opened_at - interval '2 years',
       opened_at - interval '18 months', 'non_cpa'
  FROM bench_people WHERE n <= :users * 0.20;

INSERT INTO referrals (id, service_user_id, source_type, referrer_name, reason, presenting_needs,
                       urgency, received_at, response_due_at, status, triaged_urgency,
                       responding_team_id, triaged_at, triaged_by, decided_at, decided_by,
                       episode_id, created_by, created_at, updated_at, version)
SELECT pg_temp.bench_id('referral', n), pg_temp.bench_id('service_user', n),
       (ARRAY['gp', 'self', 'carer', 'emergency_department', 'other_team'])[n % 5 + 1],
       'Referrer ' || (n % 500),
       'Low mood, not sleeping, stopped going to work; family worried about withdrawal.',
       'Support with housing and benefits.', 'routine',
       opened_at - interval '10 days', opened_at + interval '18 days',
       CASE band WHEN 'intake' THEN (CASE WHEN n % 2 = 0 THEN 'triaged' ELSE 'received' END)
                 ELSE 'accepted' END,
       CASE WHEN band <> 'intake' OR n % 2 = 0 THEN 'routine' END,
       CASE WHEN band <> 'intake' OR n % 2 = 0 THEN pg_temp.bench_id('team', team) END,
       CASE WHEN band <> 'intake' OR n % 2 = 0 THEN opened_at - interval '8 days' END,
       CASE WHEN band <> 'intake' OR n % 2 = 0 THEN 'bench-manager-' || team END,
       CASE WHEN band <> 'intake' THEN opened_at END,
       CASE WHEN band <> 'intake' THEN 'bench-manager-' || team END,
       CASE WHEN band <> 'intake' THEN pg_temp.bench_id('episode', n) END,
       'bench-staff-' || clinician, opened_at - interval '10 days', opened_at, 3
  FROM bench_people;
-- People in intake were received recently, so their response is due in the coming weeks.
UPDATE referrals r SET received_at = now() - (p.n % 20) * interval '1 day',
                       response_due_at = now() + (28 - p.n % 20) * interval '1 day',
                       triaged_at = CASE WHEN r.status = 'triaged' THEN now() END,
                       created_at = now() - (p.n % 20) * interval '1 day', updated_at = now()
  FROM bench_people p
 WHERE p.band = 'intake' AND r.id = pg_temp.bench_id('referral', p.n);
-- A declined referral for every tenth person.
INSERT INTO referrals (id, service_user_id, source_type, reason, urgency, received_at,
                       response_due_at, status, triaged_urgency, responding_team_id, triaged_at,
                       triaged_by, decision_reason, decided_at, decided_by, created_by)
SELECT pg_temp.bench_id('referral-declined', n), pg_temp.bench_id('service_user', n), 'self',
       'Asked for help with anxiety.', 'routine', opened_at - interval '400 days',
       opened_at - interval '372 days', 'declined', 'routine', pg_temp.bench_id('team', team),
       opened_at - interval '398 days', 'bench-manager-' || team,
       'Needs met by the talking therapies service.', opened_at - interval '395 days',
       'bench-manager-' || team, 'bench-staff-' || clinician
  FROM bench_people WHERE n % 10 = 0;

UPDATE episodes e SET referral_id = pg_temp.bench_id('referral', p.n)
  FROM bench_people p
 WHERE p.band <> 'intake' AND e.id = pg_temp.bench_id('episode', p.n);

INSERT INTO episode_care_level_changes (episode_id, from_level, to_level, reason, changed_at,
                                        changed_by)
SELECT pg_temp.bench_id('episode', n), NULL, care_level,
       'Provisional care level on accepting the referral.', opened_at, 'bench-manager-' || team
  FROM bench_people WHERE band <> 'intake';

-- A third of the open episodes changed co-ordinator once: the ended allocation was held by the
-- next clinician of the same team.
INSERT INTO allocations (id, episode_id, role, holder_staff_id, started_at, ended_at, end_reason,
                         preferred_coordinator_gender, preferences_met, created_by, updated_at)
SELECT pg_temp.bench_id('allocation-ended', n), pg_temp.bench_id('episode', n),
       CASE care_level WHEN 'cpa' THEN 'care_coordinator' ELSE 'lead_professional' END,
       pg_temp.bench_id('staff', (team - 1) * :per_team + clinician % :per_team + 1),
       opened_at + interval '1 day', opened_at + interval '90 days',
       'Co-ordinator moved to another team.', 'no_preference', true, 'bench-manager-' || team,
       opened_at + interval '90 days'
  FROM bench_people WHERE band = 'open' AND n % 3 = 1;
INSERT INTO allocations (id, episode_id, role, holder_staff_id, deputy_staff_id, started_at,
                         replaces_allocation_id, preferred_coordinator_gender, preferences_met,
                         created_by, updated_at)
SELECT pg_temp.bench_id('allocation', n), pg_temp.bench_id('episode', n),
       CASE care_level WHEN 'cpa' THEN 'care_coordinator' ELSE 'lead_professional' END,
       pg_temp.bench_id('staff', clinician),
       CASE WHEN n % 5 = 0 THEN
         pg_temp.bench_id('staff', (team - 1) * :per_team + (clinician + 1) % :per_team + 1) END,
       CASE WHEN n % 3 = 1 THEN opened_at + interval '90 days' ELSE opened_at + interval '1 day' END,
       CASE WHEN n % 3 = 1 THEN pg_temp.bench_id('allocation-ended', n) END,
       'no_preference', true, 'bench-manager-' || team, opened_at + interval '1 day'
  FROM bench_people WHERE band = 'open';
-- Closed episodes keep their ended allocation.
INSERT INTO allocations (id, episode_id, role, holder_staff_id, started_at, ended_at, end_reason,
                         preferred_coordinator_gender, preferences_met, created_by)
SELECT pg_temp.bench_id('allocation', n), pg_temp.bench_id('episode', n), 'lead_professional',
       pg_temp.bench_id('staff', clinician), opened_at + interval '1 day',
       opened_at + interval '20 days', 'Episode closed.', 'no_preference', true,
       'bench-manager-' || team
  FROM bench_people WHERE band = 'closed';

-- Assessments (R-ASM-1..7), which the episode summary's clocks read: three in four open episodes
-- have their holistic assessment completed (with its risk section and CPA decision), a third of
-- those a risk review since, one in ten open episodes an assessment in progress, and the open
-- episodes of substance-misuse teams two Treatment Outcome Profiles.
INSERT INTO assessments (id, episode_id, type, status, summary, risk, cpa_decision, created_at,
                         created_by, updated_at, completed_at, completed_by, version)
SELECT pg_temp.bench_id('assessment-' || a.type, p.n), pg_temp.bench_id('episode', p.n), a.type,
       a.status, 'Assessment ' || a.type || ' of person ' || p.n,
       CASE WHEN a.type <> 'tops' THEN
         '{"items": [{"category": "self_harm", "level": "medium", "evidence": "Overdose in the past.",
           "triggers": null, "protective_factors": "Family support."}], "overall_level": "medium",
           "mare_mappa_referral_needed": false}'::jsonb END,
       CASE WHEN a.type = 'holistic' THEN jsonb_build_object(
         'criteria', jsonb_build_object('severe_mental_disorder', p.care_level = 'cpa',
           'current_or_potential_risk', true, 'multiple_service_provision', false,
           'detained_or_crisis_referral', false, 'carer_reliance_or_caring_responsibilities', false),
         'automatic_group', 'none', 'decision', p.care_level,
         'non_cpa_reason', CASE WHEN p.care_level = 'non_cpa' THEN 'Needs met without CPA.' END) END,
       p.opened_at + a.started, 'bench-staff-' || p.clinician, p.opened_at + a.done,
       CASE WHEN a.status = 'completed' THEN p.opened_at + a.done END,
       CASE WHEN a.status = 'completed' THEN 'bench-staff-' || p.clinician END,
       CASE WHEN a.status = 'completed' THEN 2 ELSE 1 END
  FROM bench_people p
  CROSS JOIN LATERAL (VALUES
    ('holistic', 'completed', interval '5 days', interval '20 days', p.n % 4 <> 0),
    ('risk_review', 'completed', interval '90 days', interval '100 days', p.n % 12 = 3),
    ('initial', 'in_progress', interval '110 days', interval '110 days', p.n % 10 = 1),
    ('tops', 'completed', interval '15 days', interval '15 days', p.team > 52)
  ) AS a(type, status, started, done, wanted)
 WHERE p.band = 'open' AND a.wanted;
INSERT INTO assessments (id, episode_id, type, status, tops, created_at, created_by, updated_at,
                         completed_at, completed_by, version)
SELECT pg_temp.bench_id('assessment-tops-review', n), pg_temp.bench_id('episode', n), 'tops',
       'completed', '{"stage": "review"}', opened_at + interval '105 days',
       'bench-staff-' || clinician, opened_at + interval '105 days',
       opened_at + interval '105 days', 'bench-staff-' || clinician, 2
  FROM bench_people WHERE band = 'open' AND team > 52;

-- Care plans (R-CPL-1): the episodes with a completed holistic assessment have an active plan,
-- activated 22 days after the episode opened (40 for one in six: late), sent to the person and
-- the GP for three in four.
INSERT INTO care_plans (id, episode_id, status, plan_version, content, created_at, created_by,
                        updated_at, activated_at, version)
SELECT pg_temp.bench_id('care-plan', n), pg_temp.bench_id('episode', n), 'active', 1,
       '{"needs": [{"need": "Stable housing", "goals": ["Keep the tenancy"]}]}',
       opened_at + interval '15 days', 'bench-staff-' || clinician,
       opened_at + interval '22 days',
       opened_at + CASE WHEN n % 6 = 1 THEN interval '40 days' ELSE interval '22 days' END, 2
  FROM bench_people WHERE band = 'open' AND n % 4 <> 0;
INSERT INTO care_plan_versions (care_plan_id, number, content, created_at, created_by)
SELECT pg_temp.bench_id('care-plan', n), 1,
       '{"needs": [{"need": "Stable housing", "goals": ["Keep the tenancy"]}]}',
       opened_at + interval '22 days', 'bench-staff-' || clinician
  FROM bench_people WHERE band = 'open' AND n % 4 <> 0;
INSERT INTO care_plan_distributions (care_plan_id, plan_version, recipient_type, method, sent_on,
                                     recorded_at, recorded_by)
SELECT pg_temp.bench_id('care-plan', n), 1, r.recipient, 'post',
       (opened_at + interval '24 days')::date, opened_at + interval '24 days',
       'bench-staff-' || clinician
  FROM bench_people CROSS JOIN (VALUES ('person'), ('gp')) AS r(recipient)
 WHERE band = 'open' AND n % 4 IN (1, 2);

-- Reviews (R-REV-1): every interval since the clock started (6 months on CPA, 12 not), held 5
-- days early, or 10 days late for one in seven; one in nine has missed the latest.
INSERT INTO reviews (episode_id, type, status, due_on, held_on, attendees, chaired_by, summary,
                     outcome, care_level_before, care_level_after, next_review_due, created_at,
                     created_by, updated_at, held_recorded_by, version)
SELECT pg_temp.bench_id('episode', p.n), 'scheduled', 'held', r.due, r.held, '[]',
       jsonb_build_object('name', 'Clinician ' || p.clinician), 'Review of person ' || p.n,
       'continue', p.care_level, p.care_level, (r.held + p.every)::date, r.held, 'bench-staff-' ||
       p.clinician, r.held, 'bench-staff-' || p.clinician, 2
  FROM (SELECT *, CASE care_level WHEN 'cpa' THEN interval '6 months'
                                  ELSE interval '12 months' END AS every
          FROM bench_people WHERE band = 'open') p
  CROSS JOIN LATERAL generate_series(1, 40) AS k
  CROSS JOIN LATERAL (SELECT (p.opened_at + interval '1 day' + k * p.every)::date AS due) d
  CROSS JOIN LATERAL (SELECT d.due, d.due + CASE WHEN p.n % 7 = 0 THEN 10 ELSE -5 END AS held) r
 WHERE r.held <= current_date
   AND NOT (p.n % 9 = 0 AND r.due + p.every > current_date);

-- Carers (R-CAR-2): one in five people with an open episode has a carer, identified ten days in;
-- half of them were offered an assessment, a quarter assessed.
INSERT INTO carers (id, service_user_id, name, relationship, contact, under_18, lives_with_person,
                    consent, identified_on, assessment, created_at, created_by, updated_at)
SELECT pg_temp.bench_id('carer', n), pg_temp.bench_id('service_user', n), 'Carer ' || n,
       'parent', '{"phone": "01632 960000"}', n % 50 = 2, n % 2 = 0, '{"share": "all"}',
       (opened_at + interval '10 days')::date,
       CASE WHEN n % 20 = 2 THEN jsonb_build_object(
              'offered_on', (opened_at + interval '12 days')::date, 'response', 'accepted',
              'completed_on', (opened_at + interval '40 days')::date, 'outcome', 'eligible')
            WHEN n % 10 = 2 THEN jsonb_build_object(
              'offered_on', (opened_at + interval '12 days')::date)
            ELSE '{}'::jsonb END,
       opened_at + interval '10 days', 'bench-staff-' || clinician, opened_at + interval '10 days'
  FROM bench_people WHERE band = 'open' AND n % 5 = 2;

-- Hospital discharges (R-TRF-3): one in twenty open episodes, over the last year; a face-to-face
-- follow-up within 5 days for half of them, after 9 days for a quarter, none for the rest.
INSERT INTO transfers (id, episode_id, type, status, reason, details, handover, proposed_at,
                       proposed_by, decided_at, decided_by, completed_at, completed_by,
                       updated_at, version)
SELECT pg_temp.bench_id('transfer', n), pg_temp.bench_id('episode', n), 'hospital_discharge',
       'completed', 'Discharged from the ward.',
       jsonb_build_object('discharged_on', (now() - (n % 360) * interval '1 day')::date),
       '{"care_plan": null, "risk_summary": null, "contacts": []}',
       now() - (n % 360 + 2) * interval '1 day', 'bench-staff-' || clinician,
       now() - (n % 360 + 1) * interval '1 day', 'bench-manager-' || team,
       now() - (n % 360) * interval '1 day', 'bench-staff-' || clinician,
       now() - (n % 360) * interval '1 day', 3
  FROM bench_people WHERE band = 'open' AND n % 20 = 7;
INSERT INTO transfer_contacts (transfer_id, kind, contact_on, face_to_face, by_staff_id,
                               recorded_at, recorded_by)
SELECT pg_temp.bench_id('transfer', n), 'follow_up',
       (now() - (n % 360) * interval '1 day')::date + CASE WHEN n % 40 = 7 THEN 5 ELSE 9 END,
       true, pg_temp.bench_id('staff', clinician), now(), 'bench-staff-' || clinician
  FROM bench_people
 WHERE band = 'open' AND n % 20 = 7 AND n % 80 IN (7, 47, 27)
   AND (now() - (n % 360) * interval '1 day')::date + CASE WHEN n % 40 = 7 THEN 5 ELSE 9 END
       <= current_date;

-- The audit trail: a year of events, oldest first. Nine in ten are reads or changes of one
-- person's record by their co-ordinator; one in ten is a list read naming ten people.
INSERT INTO audit_events (occurred_at, actor, roles, action, resource_type, resource_id,
                          service_user_id, request_id, client_address, outcome, details)
SELECT now() - (:events - i) * (interval '365 days' / :events),
       CASE WHEN listed THEN 'bench-manager-' || (i % :teams + 1)
            ELSE 'bench-staff-' || ((p - 1) % :clinicians + 1) END,
       CASE WHEN listed THEN '{manager}'::text[] ELSE '{coordinator}'::text[] END,
       action,
       CASE WHEN listed THEN 'referral'
            ELSE (ARRAY['service_user', 'episode', 'service_user', 'allocation'])[i % 4 + 1] END,
       CASE WHEN NOT listed THEN pg_temp.bench_id('service_user', p)::text END,
       CASE WHEN NOT listed THEN pg_temp.bench_id('service_user', p) END,
       md5('request/' || i), '10.' || (i % 200) || '.' || (i % 250) || '.' || (i % 240 + 1),
       CASE action WHEN 'deny' THEN 'denied' ELSE 'success' END,
       CASE WHEN listed THEN
              jsonb_build_object(
                'ids', (SELECT jsonb_agg(pg_temp.bench_id('referral', (p + k * 7) % :users + 1))
                          FROM generate_series(0, 9) AS k),
                'service_user_ids',
                       (SELECT jsonb_agg(pg_temp.bench_id('service_user', (p + k * 7) % :users + 1))
                          FROM generate_series(0, 9) AS k))
            WHEN action = 'update' THEN
              '{"changes": {"preferred_language": {"from": "English", "to": "Polish"}}}'::jsonb
       END
  FROM (SELECT i, p, listed,
               CASE WHEN listed THEN 'read' WHEN i % 10 IN (1, 2) THEN 'update'
                    WHEN i % 50 = 3 THEN 'create' WHEN i % 97 = 4 THEN 'deny'
                    ELSE 'read' END AS action
          FROM (SELECT i, (i::bigint * 7919) % :users + 1 AS p, i % 10 = 0 AS listed
                  FROM generate_series(1, :events) AS i) numbered) e;

DO $$
BEGIN
  PERFORM episode_facts_refresh(ARRAY(SELECT id FROM episodes));
  PERFORM pg_temp.episode_facts_triggers(true);
END
$$;

COMMIT;

VACUUM (ANALYZE) episode_facts, teams, staff, service_users, episodes, referrals,
  episode_care_level_changes, allocations, assessments, care_plans, care_plan_versions,
  care_plan_distributions, reviews, carers, transfers, transfer_contacts, audit_events;
