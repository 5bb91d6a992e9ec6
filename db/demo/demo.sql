-- Demo data for local development (loaded by scripts/run as the database owner).
--
-- Every person here is fictional. NHS numbers are in the 999 range, which is never issued to
-- patients, and all pass the Modulus 11 check. Rows have fixed ids and are inserted with
-- ON CONFLICT DO NOTHING, so loading this file again changes nothing (and does not undo edits
-- made through the API).
--
-- Staff subjects are the JWT `sub` values scripts/run uses when it mints dev tokens.

BEGIN;

INSERT INTO teams (id, name, type) VALUES
  ('a0000000-0000-4000-8000-000000000001', 'North CMHT', 'community_mental_health'),
  ('a0000000-0000-4000-8000-000000000002', 'Crisis and Home Treatment (ALIS)', 'crisis_home_treatment'),
  ('a0000000-0000-4000-8000-000000000003', 'Willow Ward', 'inpatient_ward'),
  ('a0000000-0000-4000-8000-000000000004', 'Drug and Alcohol Service', 'substance_misuse')
ON CONFLICT DO NOTHING;

-- Partner organisations (the partner dev token's `org` is ASC-NORTH). Registered before the
-- referrals below, so the referral Adult Social Care sent is the first event of its feed.
INSERT INTO partner_organisations (code, name, kind) VALUES
  ('ASC-NORTH', 'Northshire Adult Social Care', 'adult_social_care'),
  ('PROBATION-EAST', 'Probation Service, Eastbridge', 'probation')
ON CONFLICT DO NOTHING;

INSERT INTO staff (id, subject, name, professional_role, team_id, gender, active) VALUES
  ('b0000000-0000-4000-8000-000000000001', 'staff-ahmed', 'Yasmin Ahmed', 'nurse',
   'a0000000-0000-4000-8000-000000000001', 'female', true),
  ('b0000000-0000-4000-8000-000000000002', 'staff-brown', 'Daniel Brown', 'social_worker',
   'a0000000-0000-4000-8000-000000000001', 'male', true),
  ('b0000000-0000-4000-8000-000000000003', 'staff-okafor', 'Chidinma Okafor', 'manager',
   'a0000000-0000-4000-8000-000000000001', 'female', true),
  ('b0000000-0000-4000-8000-000000000004', 'staff-evans', 'Rhys Evans', 'psychiatrist',
   'a0000000-0000-4000-8000-000000000002', 'male', true),
  ('b0000000-0000-4000-8000-000000000005', 'staff-kowalska', 'Agnieszka Kowalska', 'nurse',
   'a0000000-0000-4000-8000-000000000002', 'female', true),
  ('b0000000-0000-4000-8000-000000000006', 'staff-patel', 'Ravi Patel', 'nurse',
   'a0000000-0000-4000-8000-000000000003', 'male', true),
  ('b0000000-0000-4000-8000-000000000007', 'staff-nguyen', 'Minh Nguyen', 'occupational_therapist',
   'a0000000-0000-4000-8000-000000000003', 'male', true),
  ('b0000000-0000-4000-8000-000000000008', 'staff-murphy', 'Siobhan Murphy', 'social_worker',
   'a0000000-0000-4000-8000-000000000004', 'female', true),
  ('b0000000-0000-4000-8000-000000000009', 'staff-campbell', 'Jordan Campbell', 'support_worker',
   'a0000000-0000-4000-8000-000000000004', 'other', false)
ON CONFLICT DO NOTHING;

INSERT INTO service_users (id, nhs_number, given_name, family_name, date_of_birth, gender,
                           address, gp_practice, preferred_language, interpreter_required,
                           cultural_religious_needs, communication_needs) VALUES
  ('c0000000-0000-4000-8000-000000000001', '9994344625', 'Aisha', 'Begum', '1987-03-14', 'female',
   '{"lines": ["14 Larkspur Road", "Northfield"], "postcode": "NF4 2QA"}',
   '{"ods_code": "B82001", "name": "Moorside Medical Practice"}',
   'Sylheti', true,
   'Muslim; prefers a female care co-ordinator and no home visits during Friday prayers.', NULL),
  ('c0000000-0000-4000-8000-000000000002', '9995908018', 'Thomas', 'Whitfield', '1962-11-02', 'male',
   '{"lines": ["Flat 3", "27 Canal Street", "Northfield"], "postcode": "NF1 7DE"}',
   '{"ods_code": "B82001", "name": "Moorside Medical Practice"}',
   'English', false, NULL, NULL),
  ('c0000000-0000-4000-8000-000000000003', '9999911757', 'Grzegorz', 'Nowak', '1979-06-21', 'male',
   '{"lines": ["8 Foundry Lane", "Eastbridge"], "postcode": "EB2 5LW"}',
   '{"ods_code": "B82005", "name": "Eastbridge Health Centre"}',
   'Polish', true, NULL, NULL),
  ('c0000000-0000-4000-8000-000000000004', '9999982743', 'Ngozi', 'Adeyemi', '1994-01-30', 'female',
   '{"lines": ["61 Hawthorn Avenue", "Northfield"], "postcode": "NF3 9HT"}',
   '{"ods_code": "B82018", "name": "Riverside Surgery"}',
   'English', false, NULL, NULL),
  ('c0000000-0000-4000-8000-000000000005', '9993927864', 'Sam', 'Taylor', '2001-09-09', 'other',
   NULL,
   '{"ods_code": "B82018", "name": "Riverside Surgery"}',
   'English', false, NULL,
   'Uses they/them pronouns. Prefers appointment reminders by text message.'),
  ('c0000000-0000-4000-8000-000000000006', '9993913979', 'Margaret', 'O''Connor', '1948-12-05', 'female',
   '{"lines": ["2 Chapel Row", "Little Hadley", "Northfield"], "postcode": "NF8 1RS"}',
   '{"ods_code": "B82001", "name": "Moorside Medical Practice"}',
   'English', false, 'Roman Catholic; would like the hospital chaplain to visit.',
   'Hearing impaired: wears hearing aids; speak clearly and face her.'),
  ('c0000000-0000-4000-8000-000000000007', '9997655168', 'Mohammed', 'Rahimi', '1990-04-17', 'male',
   '{"lines": ["Room 12", "Harbour House", "Eastbridge"], "postcode": "EB1 4PN"}',
   NULL,
   'Dari', true, 'Muslim.', 'Not registered with a GP yet; reachable through his support worker.'),
  ('c0000000-0000-4000-8000-000000000008', '9992266813', 'Li Na', 'Chen', '1985-10-23', 'female',
   '{"lines": ["45 Orchard Close", "Northfield"], "postcode": "NF2 6JB"}',
   '{"ods_code": "B82005", "name": "Eastbridge Health Centre"}',
   'Mandarin', false, NULL, NULL),
  ('c0000000-0000-4000-8000-000000000009', '9991889779', 'Dafydd', 'Hughes', '1971-07-28', 'male',
   '{"lines": ["Ty Gwyn", "Mill Road", "Westholme"], "postcode": "WH5 3AY"}',
   '{"ods_code": "B82030", "name": "Westholme Family Practice"}',
   'Welsh', false, NULL, 'Prefers written information in Welsh and English.'),
  ('c0000000-0000-4000-8000-000000000010', '9997332865', 'Precious', 'Mensah', '1983-02-11', 'female',
   '{"lines": ["19 Beech Grove", "Northfield"], "postcode": "NF3 2EU"}',
   '{"ods_code": "B82018", "name": "Riverside Surgery"}',
   'English', false,
   'Pentecostal Christian; her church community is an important source of support.', NULL),
  ('c0000000-0000-4000-8000-000000000011', '9990962561', 'Kai', 'Robinson', '2005-05-05', 'unknown',
   NULL, NULL, NULL, false, NULL, NULL),
  ('c0000000-0000-4000-8000-000000000012', '9998333059', 'Rosa', 'Fernandes', '1958-08-19', 'female',
   '{"lines": ["7 Quayside Mews", "Eastbridge"], "postcode": "EB3 8GF"}',
   '{"ods_code": "B82005", "name": "Eastbridge Health Centre"}',
   'Portuguese', true, NULL, 'Prefers letters in large print.')
ON CONFLICT DO NOTHING;

INSERT INTO episodes (id, service_user_id, team_id, status, opened_at, closed_at) VALUES
  ('d0000000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-000000000001',
   'a0000000-0000-4000-8000-000000000001', 'open', '2025-03-03 10:15:00+00', NULL),
  ('d0000000-0000-4000-8000-000000000002', 'c0000000-0000-4000-8000-000000000002',
   'a0000000-0000-4000-8000-000000000001', 'open', '2024-11-18 14:00:00+00', NULL),
  ('d0000000-0000-4000-8000-000000000003', 'c0000000-0000-4000-8000-000000000003',
   'a0000000-0000-4000-8000-000000000004', 'open', '2025-05-12 09:30:00+00', NULL),
  ('d0000000-0000-4000-8000-000000000004', 'c0000000-0000-4000-8000-000000000004',
   'a0000000-0000-4000-8000-000000000002', 'open', '2025-09-01 22:40:00+00', NULL),
  ('d0000000-0000-4000-8000-000000000005', 'c0000000-0000-4000-8000-000000000006',
   'a0000000-0000-4000-8000-000000000003', 'open', '2025-08-20 16:05:00+00', NULL),
  ('d0000000-0000-4000-8000-000000000006', 'c0000000-0000-4000-8000-000000000007',
   'a0000000-0000-4000-8000-000000000002', 'closed', '2025-01-06 03:20:00+00',
   '2025-02-14 12:00:00+00'),
  ('d0000000-0000-4000-8000-000000000007', 'c0000000-0000-4000-8000-000000000007',
   'a0000000-0000-4000-8000-000000000001', 'open', '2025-02-14 12:00:00+00', NULL),
  ('d0000000-0000-4000-8000-000000000008', 'c0000000-0000-4000-8000-000000000009',
   'a0000000-0000-4000-8000-000000000001', 'open', '2023-06-27 11:00:00+01', NULL),
  ('d0000000-0000-4000-8000-000000000009', 'c0000000-0000-4000-8000-000000000012',
   'a0000000-0000-4000-8000-000000000004', 'open', '2025-07-08 13:45:00+01', NULL)
ON CONFLICT DO NOTHING;

-- Referrals in every state (R-REF-1..4). Response due times follow the policy defaults
-- (emergency 4 h, urgent 72 h, routine 28 days after receipt, in UTC). The accepted referral is
-- the one that opened Aisha Begum's episode with North CMHT.
INSERT INTO referrals (id, service_user_id, source_type, source_org, referrer_name,
                       referrer_contact, reason, presenting_needs, known_risks, urgency,
                       received_at, response_due_at, status, triaged_urgency, responding_team_id,
                       local_team_reason, decision_reason, redirected_to, decided_at, episode_id,
                       created_by) VALUES
  ('e0000000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-000000000011', 'gp', NULL,
   'Dr Helen Shaw', 'Riverside Surgery, 01632 960123',
   'Low mood and withdrawal from college over three months.', 'Sleep disturbance; poor appetite.',
   NULL, 'routine', '2025-11-03 10:00:00+00', '2025-12-01 10:00:00+00', 'received', NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, 'staff-okafor'),
  ('e0000000-0000-4000-8000-000000000002', 'c0000000-0000-4000-8000-000000000005', 'carer', NULL,
   'Jo Taylor (parent)', '07700 900456',
   'Increasingly distressed and not leaving the house; parent worried about self-harm.', NULL,
   'Recent self-harm disclosed to parent.', 'urgent', '2025-11-10 16:30:00+00',
   '2025-11-13 16:30:00+00', 'triaged', 'urgent', 'a0000000-0000-4000-8000-000000000002', NULL,
   NULL, NULL, NULL, NULL, 'staff-okafor'),
  ('e0000000-0000-4000-8000-000000000003', 'c0000000-0000-4000-8000-000000000001', 'gp', NULL,
   'Dr Imran Qureshi', 'Moorside Medical Practice, 01632 960001',
   'Recurrent depressive episode; not responding to primary care treatment.', NULL, NULL,
   'routine', '2025-02-17 09:00:00+00', '2025-03-17 09:00:00+00', 'accepted', 'routine',
   'a0000000-0000-4000-8000-000000000001', NULL, NULL, NULL, '2025-03-03 10:15:00+00',
   'd0000000-0000-4000-8000-000000000001', 'staff-okafor'),
  ('e0000000-0000-4000-8000-000000000004', 'c0000000-0000-4000-8000-000000000008',
   'adult_social_care', 'ASC-NORTH', 'Adult Social Care duty desk', 'asc-duty@example.invalid',
   'Request for mental health assessment alongside a Care Act assessment.', NULL, NULL,
   'routine', '2025-10-01 11:00:00+00', '2025-10-29 11:00:00+00', 'declined', 'routine',
   'a0000000-0000-4000-8000-000000000001', NULL,
   'No secondary mental health need identified at screening; GP to continue support.', NULL,
   '2025-10-08 15:00:00+00', NULL, 'asc-north-system'),
  ('e0000000-0000-4000-8000-000000000005', 'c0000000-0000-4000-8000-000000000010', 'self', NULL,
   'Precious Mensah', '07700 900789', 'Anxiety affecting work; asking for talking therapy.', NULL,
   NULL, 'routine', '2025-09-15 08:45:00+00', '2025-10-13 08:45:00+00', 'redirected', 'routine',
   'a0000000-0000-4000-8000-000000000001', NULL,
   'Needs are best met by primary care psychological therapies.', 'NHS Talking Therapies',
   '2025-09-22 12:00:00+00', NULL, 'staff-okafor'),
  ('e0000000-0000-4000-8000-000000000006', 'c0000000-0000-4000-8000-000000000011', 'police', NULL,
   'PC 4471 Morgan', 'Northfield custody suite', 'Found in distress on a bridge; taken home.',
   NULL, 'Possible risk to self.', 'emergency', '2025-10-20 01:10:00+00',
   '2025-10-20 05:10:00+00', 'withdrawn', NULL, NULL, NULL,
   'Referrer withdrew: seen by the GP the same morning.', NULL, '2025-10-20 04:00:00+00', NULL,
   'staff-okafor')
ON CONFLICT DO NOTHING;

UPDATE episodes SET referral_id = 'e0000000-0000-4000-8000-000000000003'
 WHERE id = 'd0000000-0000-4000-8000-000000000001' AND referral_id IS NULL;

-- Who triaged and who decided each demo referral (the referrer withdrew the police one), and the
-- partner's own reference on the Adult Social Care referral.
UPDATE referrals SET triaged_at = received_at + interval '2 hours', triaged_by = 'staff-okafor'
 WHERE id::text LIKE 'e0000000-%' AND triaged_urgency IS NOT NULL AND triaged_at IS NULL;
UPDATE referrals
   SET decided_by = CASE WHEN status = 'withdrawn' THEN created_by ELSE 'staff-okafor' END
 WHERE id::text LIKE 'e0000000-%' AND decided_at IS NOT NULL AND decided_by IS NULL;
UPDATE referrals SET external_reference = 'ASC-2025-0193'
 WHERE id = 'e0000000-0000-4000-8000-000000000004' AND external_reference IS NULL;

-- Care levels (R-ALC-2, R-REV-3): four community episodes are on CPA, each with the history entry
-- that put it there; the rest stay not on CPA. Aisha Begum's episode started on CPA when her
-- referral was accepted.
UPDATE episodes SET care_level = 'cpa'
 WHERE id IN ('d0000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000002',
              'd0000000-0000-4000-8000-000000000007', 'd0000000-0000-4000-8000-000000000008')
   AND NOT EXISTS (SELECT 1 FROM episode_care_level_changes c WHERE c.episode_id = episodes.id);
INSERT INTO episode_care_level_changes (id, episode_id, from_level, to_level, reason, changed_at,
                                        changed_by) VALUES
  ('f1000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000001', NULL, 'cpa',
   'Provisional care level on accepting the referral.', '2025-03-03 10:15:00+00', 'staff-okafor'),
  ('f1000000-0000-4000-8000-000000000002', 'd0000000-0000-4000-8000-000000000002', NULL, 'cpa',
   'Complex needs across health and social care; several agencies involved.',
   '2024-11-18 14:00:00+00', 'staff-okafor'),
  ('f1000000-0000-4000-8000-000000000003', 'd0000000-0000-4000-8000-000000000007', NULL, 'cpa',
   'Stepped down from home treatment; high risk history needs co-ordination.',
   '2025-02-14 12:00:00+00', 'staff-okafor'),
  ('f1000000-0000-4000-8000-000000000004', 'd0000000-0000-4000-8000-000000000008', NULL, 'cpa',
   'Severe mental illness with recent admissions.', '2023-06-27 10:00:00+00', 'staff-okafor')
ON CONFLICT DO NOTHING;

-- Allocations of the demo episodes (R-ALC-1..4): current ones with and without a deputy,
-- preferences recorded and, twice, not met with the reason; a hand-over after the service user
-- asked for a change of co-ordinator (the request and its approval are below); the ended
-- allocation of a closed episode; an interim named nurse on Willow Ward; and the probation
-- service co-ordinating a community drug rehabilitation requirement for the Drug and Alcohol
-- Service. Dafydd Hughes's episode awaits allocation. The role follows each episode's care level
-- as loaded (R-ALC-2: care co-ordinator on CPA, lead professional otherwise).
INSERT INTO allocations (id, episode_id, role, holder_staff_id, external_holder_name,
                         external_holder_organisation, external_holder_contact, deputy_staff_id,
                         preferred_coordinator_gender, preferred_cultural_religious_needs,
                         preferences_met, preferences_not_met_reason, replaces_allocation_id,
                         started_at, ended_at, end_reason, created_by, updated_at, version)
SELECT v.id::uuid, e.id,
       COALESCE(v.role, CASE e.care_level WHEN 'cpa' THEN 'care_coordinator'
                                          ELSE 'lead_professional' END),
       v.holder::uuid, v.external_name, v.external_organisation, v.external_contact,
       v.deputy::uuid, v.gender, v.needs, v.met::boolean, v.not_met_reason, v.replaces::uuid,
       v.started_at::timestamptz, v.ended_at::timestamptz, v.end_reason, 'demo-data',
       COALESCE(v.ended_at, v.started_at)::timestamptz, CASE WHEN v.ended_at IS NULL THEN 1 ELSE 2 END
  FROM (VALUES
  ('f0000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000001', NULL,
   'b0000000-0000-4000-8000-000000000001', NULL, NULL, NULL, 'b0000000-0000-4000-8000-000000000002',
   'female', 'Muslim; no home visits during Friday prayers.', 'true', NULL, NULL,
   '2025-03-10 09:00:00+00', NULL, NULL),
  ('f0000000-0000-4000-8000-000000000002', 'd0000000-0000-4000-8000-000000000002', NULL,
   'b0000000-0000-4000-8000-000000000002', NULL, NULL, NULL, NULL,
   'no_preference', NULL, 'true', NULL, NULL,
   '2024-11-25 10:00:00+00', '2025-06-02 09:00:00+01',
   'The service user asked for a change of co-ordinator; the request was approved.'),
  ('f0000000-0000-4000-8000-000000000003', 'd0000000-0000-4000-8000-000000000002', NULL,
   'b0000000-0000-4000-8000-000000000001', NULL, NULL, NULL, NULL,
   'no_preference', NULL, 'true', NULL, 'f0000000-0000-4000-8000-000000000002',
   '2025-06-02 09:00:00+01', NULL, NULL),
  ('f0000000-0000-4000-8000-000000000004', 'd0000000-0000-4000-8000-000000000003', NULL,
   NULL, 'Helen Marsh', 'Probation Service, Eastbridge (community DRR)', '01632 960456',
   'b0000000-0000-4000-8000-000000000008',
   'no_preference', NULL, 'true', NULL, NULL,
   '2025-05-19 11:00:00+01', NULL, NULL),
  ('f0000000-0000-4000-8000-000000000005', 'd0000000-0000-4000-8000-000000000004', NULL,
   'b0000000-0000-4000-8000-000000000005', NULL, NULL, NULL, 'b0000000-0000-4000-8000-000000000004',
   'female', NULL, 'true', NULL, NULL,
   '2025-09-02 08:30:00+01', NULL, NULL),
  ('f0000000-0000-4000-8000-000000000006', 'd0000000-0000-4000-8000-000000000005',
   'interim_named_nurse',
   'b0000000-0000-4000-8000-000000000006', NULL, NULL, NULL, 'b0000000-0000-4000-8000-000000000007',
   'female', 'Roman Catholic; would like the hospital chaplain to visit.', 'false',
   'No female nurse on the ward team was free to be her named nurse; to be met when a care co-ordinator is allocated.',
   NULL, '2025-08-20 17:00:00+01', NULL, NULL),
  ('f0000000-0000-4000-8000-000000000007', 'd0000000-0000-4000-8000-000000000006', NULL,
   'b0000000-0000-4000-8000-000000000004', NULL, NULL, NULL, NULL,
   'no_preference', NULL, 'true', NULL, NULL,
   '2025-01-06 09:00:00+00', '2025-02-14 12:00:00+00',
   'Episode closed: care transferred to North CMHT.'),
  ('f0000000-0000-4000-8000-000000000008', 'd0000000-0000-4000-8000-000000000007', NULL,
   'b0000000-0000-4000-8000-000000000002', NULL, NULL, NULL, 'b0000000-0000-4000-8000-000000000001',
   'male', 'Muslim.', 'true', NULL, NULL,
   '2025-02-17 10:00:00+00', NULL, NULL),
  ('f0000000-0000-4000-8000-000000000009', 'd0000000-0000-4000-8000-000000000009', NULL,
   'b0000000-0000-4000-8000-000000000008', NULL, NULL, NULL, NULL,
   'female', 'Would prefer a Portuguese-speaking co-ordinator.', 'false',
   'No Portuguese-speaking co-ordinator in the team; an interpreter is booked for every contact.',
   NULL, '2025-07-15 10:00:00+01', NULL, NULL)
  ) AS v(id, episode_id, role, holder, external_name, external_organisation, external_contact,
         deputy, gender, needs, met, not_met_reason, replaces, started_at, ended_at, end_reason)
  JOIN episodes e ON e.id = v.episode_id::uuid
 ORDER BY v.started_at::timestamptz
ON CONFLICT DO NOTHING;

-- Thomas Whitfield's request to change co-ordinator, approved with the hand-over above.
INSERT INTO allocation_change_requests (id, episode_id, allocation_id, requested_at, reason,
                                        requested_by, status, decision_reason, decided_at,
                                        decided_by, resulting_allocation_id, updated_at, version)
VALUES
  ('f1000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000002',
   'f0000000-0000-4000-8000-000000000002', '2025-05-20 14:00:00+01',
   'Would like a co-ordinator he has not known from a previous admission.', 'staff-brown',
   'approved', 'Discussed at the team meeting; Yasmin Ahmed has capacity.',
   '2025-06-02 09:00:00+01', 'staff-okafor', 'f0000000-0000-4000-8000-000000000003',
   '2025-06-02 09:00:00+01', 2)
ON CONFLICT DO NOTHING;

-- Assessments (R-ASM-1..7). Aisha Begum: the holistic assessment completed, with risk, capacity,
-- children (a son at school, no safeguarding concern) and the CPA decision that confirmed her
-- care level, and a risk review in progress. Thomas Whitfield: a risk review completed in June
-- 2025, so the next is overdue (R-ASM-6). Grzegorz Nowak (Drug and Alcohol Service): a first
-- TOPs, the next one overdue (R-ASM-7). Ngozi Adeyemi: no holistic assessment yet, well past its
-- due date (R-ASM-1). Rosa Fernandes's holistic assessment with the Drug and Alcohol Service is
-- in progress.
INSERT INTO assessments (id, episode_id, type, status, summary, domains, risk, capacity, children,
                         cpa_decision, tops, created_at, created_by, updated_at, completed_at,
                         completed_by, version)
SELECT v.id::uuid, v.episode_id::uuid, v.type, v.status, v.summary, v.domains::jsonb,
       v.risk::jsonb, v.capacity::jsonb, v.children::jsonb, v.cpa_decision::jsonb, v.tops::jsonb,
       v.created_at::timestamptz, v.created_by, COALESCE(v.completed_at, v.created_at)::timestamptz,
       v.completed_at::timestamptz, CASE WHEN v.completed_at IS NULL THEN NULL ELSE v.created_by END,
       CASE WHEN v.completed_at IS NULL THEN 1 ELSE 2 END
  FROM (VALUES
  ('f2000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000001', 'holistic',
   'completed', 'Recurrent depression with psychotic features; engages well with the team.',
   (SELECT jsonb_object_agg(d, jsonb_build_object('needs', n, 'strengths', 'Engages with support.',
           'persons_view', 'I want to feel like myself again.'))
      FROM (VALUES ('psychiatric', 'Low mood, intermittent voices.'),
                   ('psychological', 'Anxiety in crowded places.'),
                   ('social_functioning', 'Withdrawn from friends since spring.'),
                   ('medication', 'Adherence support; side-effects reviewed monthly.'),
                   ('physical_health', 'Annual physical health check due.'),
                   ('substance_use', 'No current use.'),
                   ('personal_circumstances_family', 'Lives with her son (9).'),
                   ('housing', 'Stable tenancy.'),
                   ('finances', 'Universal Credit; small debts.'),
                   ('employment_education_training', 'Would like to return to part-time work.'),
                   ('equality_diversity', 'Muslim; prefers female workers.'),
                   ('social_inclusion', 'Attends a women''s group at the mosque.'),
                   ('goals_aspirations', 'Back to work at the bakery within a year.')) AS x(d, n))::text,
   '{"items": [{"category": "self_harm", "level": "medium", "evidence": "Overdose in 2023 during a relapse.", "triggers": "Stopping medication; sleep loss.", "protective_factors": "Her son; her sister nearby."}, {"category": "relapse", "level": "medium", "evidence": "Two relapses in three years.", "triggers": "Early waking, suspicion of neighbours.", "protective_factors": "Recognises her early warning signs."}], "overall_level": "medium", "mare_mappa_referral_needed": false}',
   '{"has_capacity": true, "decision": "Consent to care and treatment under CPA.", "assessed_on": "2025-04-01", "assessor": "Yasmin Ahmed"}',
   '{"has_contact_with_children": true, "children": [{"name": "Zayn Begum", "address": "Lives with his mother.", "age": 9, "primary_carer": "Aisha Begum", "gp": "Northgate Surgery", "school": "Northgate Primary"}], "safeguarding_referral": null}',
   '{"criteria": {"severe_mental_disorder": true, "current_or_potential_risk": true, "multiple_service_provision": false, "detained_or_crisis_referral": false, "carer_reliance_or_caring_responsibilities": true}, "automatic_group": "none", "decision": "cpa", "non_cpa_reason": null}',
   NULL, '2025-03-17 10:00:00+00', 'staff-ahmed', '2025-04-02 15:30:00+01'),
  ('f2000000-0000-4000-8000-000000000002', 'd0000000-0000-4000-8000-000000000001', 'risk_review',
   'in_progress', 'Annual risk review.', NULL,
   '{"items": [{"category": "self_harm", "level": "low", "evidence": "No self-harm for two years.", "triggers": null, "protective_factors": "Stable on medication."}], "overall_level": "low", "mare_mappa_referral_needed": false}',
   NULL, NULL, NULL, NULL, '2026-11-24 11:00:00+00', 'staff-ahmed', NULL),
  ('f2000000-0000-4000-8000-000000000003', 'd0000000-0000-4000-8000-000000000002', 'risk_review',
   'completed', 'Risk review after the change of co-ordinator.', NULL,
   '{"items": [{"category": "disengagement", "level": "high", "evidence": "Missed appointments before each previous admission.", "triggers": "Change of worker.", "protective_factors": "Daughter visits weekly."}], "overall_level": "high", "mare_mappa_referral_needed": false}',
   NULL, NULL, NULL, NULL, '2025-06-05 10:00:00+01', 'staff-ahmed', '2025-06-09 16:00:00+01'),
  ('f2000000-0000-4000-8000-000000000004', 'd0000000-0000-4000-8000-000000000003', 'tops',
   'completed', NULL, NULL, NULL, NULL, NULL, NULL,
   '{"stage": "start", "substance_use": [{"substance": "alcohol", "days_used": 26}, {"substance": "cannabis", "days_used": 10}], "injecting_days": 0, "psychological_health": 9, "physical_health": 11, "quality_of_life": 8, "acute_housing_problem": false, "at_risk_of_eviction": true, "shoplifting_days": 2, "assault_or_violence": false}',
   '2025-05-27 14:00:00+01', 'staff-murphy', '2025-05-27 15:00:00+01'),
  ('f2000000-0000-4000-8000-000000000005', 'd0000000-0000-4000-8000-000000000009', 'holistic',
   'in_progress', 'Started with an interpreter; to finish at the next visit.', NULL, NULL, NULL,
   NULL, NULL, NULL, '2026-11-26 10:00:00+00', 'staff-murphy', NULL)
  ) AS v(id, episode_id, type, status, summary, domains, risk, capacity, children, cpa_decision,
         tops, created_at, created_by, completed_at)
ON CONFLICT DO NOTHING;

-- Care plans (R-CPL-1..4). Aisha Begum: her first plan, superseded after the autumn review by the
-- active plan, now at version 2, which she agreed and signed and which went to her and her GP.
-- Thomas Whitfield: a new plan still a draft. Ngozi Adeyemi has none yet: her plan is overdue.
INSERT INTO care_plans (id, episode_id, status, plan_version, content, created_at, created_by,
                        updated_at, activated_at, superseded_at, superseded_by_care_plan_id,
                        version)
VALUES
  ('f3000000-0000-4000-8000-000000000002', 'd0000000-0000-4000-8000-000000000001', 'active', 2,
   '{"needs": [{"domain": "psychiatric", "description": "Low mood and intermittent voices.", "assessment_id": "f2000000-0000-4000-8000-000000000001"}, {"domain": "employment_education_training", "description": "Wants to return to part-time work.", "assessment_id": null}], "goals": [{"in_own_words": "I want to feel like myself again.", "target_date": null}, {"in_own_words": "Back at the bakery two mornings a week.", "target_date": "2027-06-30"}], "interventions": [{"what": "Home visits and medication review", "delivered_by": "staff", "staff_id": "b0000000-0000-4000-8000-000000000001", "provider_name": null, "frequency": "Fortnightly", "from": "2025-10-20", "to": null}, {"what": "Employment support", "delivered_by": "agency", "staff_id": null, "provider_name": "Northgate Works", "frequency": "Weekly", "from": "2026-05-12", "to": null}], "risk_management_plan": {"plan": "Early warning signs shared with her sister; weekly contact when sleep worsens.", "risk_categories": ["self_harm", "relapse"], "assessment_id": "f2000000-0000-4000-8000-000000000001"}, "crisis_plan": {"early_warning_signs": "Early waking, suspicion of neighbours.", "what_person_should_do": "Call the crisis line; stay with her sister.", "what_others_should_do": "Sister calls the crisis team and looks after Zayn.", "contacts_24_7": [{"name": "Crisis and Home Treatment", "number": "01632 960100"}]}, "contingency_plan": {"contact_name": "Daniel Brown", "contact_role": "Deputy care co-ordinator", "contact_phone": "01632 960200", "arrangements": "Duty worker if both are away."}, "persons_views": "I feel listened to.", "carers_views": "Her sister would like a carer''s assessment.", "advance_statements": null}',
   '2025-10-20 10:00:00+01', 'staff-ahmed', '2026-05-12 11:00:00+01', '2025-10-20 10:30:00+01',
   NULL, NULL, 4),
  ('f3000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000001', 'superseded', 1,
   '{"needs": [{"domain": "psychiatric", "description": "Low mood and intermittent voices.", "assessment_id": "f2000000-0000-4000-8000-000000000001"}], "goals": [{"in_own_words": "I want to feel like myself again.", "target_date": null}], "interventions": [{"what": "Home visits and medication review", "delivered_by": "staff", "staff_id": "b0000000-0000-4000-8000-000000000001", "provider_name": null, "frequency": "Weekly", "from": "2025-04-10", "to": null}], "risk_management_plan": {"plan": "Weekly contact while symptoms settle.", "risk_categories": ["self_harm"], "assessment_id": null}, "crisis_plan": {"early_warning_signs": "Early waking.", "what_person_should_do": "Call the crisis line.", "what_others_should_do": "Sister calls the crisis team.", "contacts_24_7": [{"name": "Crisis and Home Treatment", "number": "01632 960100"}]}, "contingency_plan": {"contact_name": "Duty worker", "contact_role": null, "contact_phone": "01632 960200", "arrangements": null}, "persons_views": null, "carers_views": null, "advance_statements": null}',
   '2025-04-08 09:00:00+01', 'staff-ahmed', '2025-10-20 10:30:00+01', '2025-04-10 12:00:00+01',
   '2025-10-20 10:30:00+01', 'f3000000-0000-4000-8000-000000000002', 3),
  ('f3000000-0000-4000-8000-000000000003', 'd0000000-0000-4000-8000-000000000002', 'draft', 1,
   '{"needs": [{"domain": "housing", "description": "Damp flat affecting his chest.", "assessment_id": null}], "goals": [{"in_own_words": "A dry flat by winter.", "target_date": null}], "interventions": [], "risk_management_plan": null, "crisis_plan": null, "contingency_plan": null, "persons_views": null, "carers_views": null, "advance_statements": null}',
   '2026-11-27 15:00:00+00', 'staff-ahmed', '2026-11-27 15:00:00+00', NULL, NULL, NULL, 1)
ON CONFLICT DO NOTHING;
INSERT INTO care_plan_versions (care_plan_id, number, content, created_at, created_by)
SELECT v.plan::uuid, v.number,
       -- Version 1 of the active plan had only the first of today's interventions.
       (SELECT CASE WHEN v.number < c.plan_version
                    THEN jsonb_set(c.content, '{interventions}',
                                   jsonb_build_array(c.content->'interventions'->0))
                    ELSE c.content END
          FROM care_plans c WHERE c.id = v.plan::uuid),
       v.at::timestamptz, 'staff-ahmed'
  FROM (VALUES ('f3000000-0000-4000-8000-000000000001', 1, '2025-04-10 12:00:00+01'),
               ('f3000000-0000-4000-8000-000000000002', 1, '2025-10-20 10:30:00+01'),
               ('f3000000-0000-4000-8000-000000000002', 2, '2026-05-12 11:00:00+01')) AS v(plan, number, at)
ON CONFLICT DO NOTHING;
INSERT INTO care_plan_agreements (id, care_plan_id, plan_version, agreement, recorded_at, recorded_by)
VALUES
  ('f3100000-0000-4000-8000-000000000001', 'f3000000-0000-4000-8000-000000000002', 2,
   '{"agreed": true, "agreed_on": "2026-05-12", "how": "signed", "carer_involvement": "Her sister attended."}',
   '2026-05-12 11:30:00+01', 'staff-ahmed')
ON CONFLICT DO NOTHING;
INSERT INTO care_plan_distributions (id, care_plan_id, plan_version, recipient_type, recipient_name,
                                     method, sent_on, recorded_at, recorded_by)
VALUES
  ('f3200000-0000-4000-8000-000000000001', 'f3000000-0000-4000-8000-000000000002', 2, 'person', NULL,
   'hand', '2026-05-12', '2026-05-12 11:35:00+01', 'staff-ahmed'),
  ('f3200000-0000-4000-8000-000000000002', 'f3000000-0000-4000-8000-000000000002', 2, 'gp',
   'Northgate Surgery', 'secure_email', '2026-05-13', '2026-05-13 09:00:00+01', 'staff-ahmed')
ON CONFLICT DO NOTHING;

-- CPA reviews (R-REV-1..3). Aisha Begum: reviewed six weeks before the data was loaded, the next
-- planned six months after (on time whenever loaded). Thomas Whitfield: last reviewed in November
-- 2025, so his next review, planned for May 2026, is overdue.
INSERT INTO reviews (id, episode_id, type, status, due_on, request_reason, invitees, held_on,
                     attendees, chaired_by, summary, outcome, care_level_before, care_level_after,
                     next_review_due, created_at, created_by, updated_at, held_recorded_by, version)
VALUES
  ('f4000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000001', 'scheduled',
   'held', current_date - 50, NULL,
   '[{"kind": "person", "name": "Aisha Begum", "staff_id": null, "consulted": true, "informed_of_outcome": true}, {"kind": "carer", "name": "Samira Begum", "carer_id": "f5000000-0000-4000-8000-000000000001", "consulted": true, "informed_of_outcome": true}, {"kind": "staff", "name": "Yasmin Ahmed", "staff_id": "b0000000-0000-4000-8000-000000000001", "consulted": true, "informed_of_outcome": true}]',
   current_date - 45, '[{"name": "Aisha Begum", "role": "service user"}, {"name": "Samira Begum", "role": "sister and carer"}, {"name": "Yasmin Ahmed", "role": "care co-ordinator"}]',
   '{"kind": "person", "name": "Aisha Begum"}', 'Settled; keep CPA while she returns to work.',
   'continue', 'cpa', 'cpa', (current_date - 45) + interval '6 months', now() - interval '80 days',
   'staff-ahmed', now() - interval '45 days', 'staff-ahmed', 2),
  ('f4000000-0000-4000-8000-000000000002', 'd0000000-0000-4000-8000-000000000001', 'scheduled',
   'planned', (current_date - 45) + interval '6 months', NULL,
   '[{"kind": "person", "name": "Aisha Begum", "staff_id": null, "consulted": false, "informed_of_outcome": false}]',
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, now() - interval '45 days', 'staff-ahmed',
   now() - interval '45 days', NULL, 1),
  ('f4000000-0000-4000-8000-000000000003', 'd0000000-0000-4000-8000-000000000002', 'scheduled',
   'held', '2025-11-25', NULL,
   '[{"kind": "person", "name": "Thomas Whitfield", "staff_id": null, "consulted": true, "informed_of_outcome": true}]',
   '2025-11-20', '[{"name": "Thomas Whitfield", "role": "service user"}, {"name": "Yasmin Ahmed", "role": "care co-ordinator"}]',
   '{"kind": "staff", "name": "Chidinma Okafor"}', 'Stable; continue on CPA.', 'continue', 'cpa',
   'cpa', '2026-05-20', '2025-11-01 10:00:00+00', 'staff-ahmed', '2025-11-20 15:00:00+00',
   'staff-ahmed', 2),
  ('f4000000-0000-4000-8000-000000000004', 'd0000000-0000-4000-8000-000000000002', 'scheduled',
   'planned', '2026-05-20', NULL, '[]', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   '2025-11-20 15:05:00+00', 'staff-ahmed', '2025-11-20 15:05:00+00', NULL, 1)
ON CONFLICT DO NOTHING;

-- Carers (R-CAR-1..2). Aisha Begum's sister: consent to share the care plan and reviews, her own
-- assessment completed, her needs review due next summer. Aisha's son, a young carer, not yet
-- offered an assessment. Thomas Whitfield's daughter: he refused consent to share; her yearly
-- review is overdue.
INSERT INTO carers (id, service_user_id, name, relationship, contact, date_of_birth, under_18,
                    lives_with_person, consent, information_given_on, assessment,
                    needs_reviewed_on, identified_on, created_at, created_by, updated_at, version)
VALUES
  ('f5000000-0000-4000-8000-000000000001', 'c0000000-0000-4000-8000-000000000001', 'Samira Begum',
   'sister', '{"phone": "07700 900111", "address": "12 Mill Lane, Northgate"}', NULL, false, false,
   '{"given": true, "recorded_on": "2025-04-02", "scope": ["care_plan", "reviews", "crisis_plan"]}',
   '2025-04-02',
   '{"offered_on": "2025-04-02", "response": "accepted", "referred_to_adult_social_care_on": "2025-04-10", "completed_on": "2025-06-20", "outcome": "Respite one weekend a month; carers'' group."}',
   '2026-06-15', '2025-04-02', '2025-04-02 15:00:00+01', 'staff-ahmed', '2026-06-15 10:00:00+01', 3),
  ('f5000000-0000-4000-8000-000000000002', 'c0000000-0000-4000-8000-000000000001', 'Zayn Begum',
   'son', '{"address": "Lives with his mother."}', '2017-05-09', NULL, true, NULL, NULL, '{}',
   NULL, '2025-04-02', '2025-04-02 15:05:00+01', 'staff-ahmed', '2025-04-02 15:05:00+01', 1),
  ('f5000000-0000-4000-8000-000000000003', 'c0000000-0000-4000-8000-000000000002', 'Helen Whitfield',
   'daughter', '{"phone": "07700 900222"}', NULL, false, false,
   '{"given": false, "recorded_on": "2025-06-05", "scope": []}', '2025-06-05',
   '{"offered_on": "2025-06-05", "response": "declined"}', NULL, '2025-06-05',
   '2025-06-05 11:00:00+01', 'staff-ahmed', '2025-06-05 11:00:00+01', 1)
ON CONFLICT DO NOTHING;

-- Transfers in every state (R-TRF-1..5), with the handover each carried (R-TRF-2), and the
-- follow-ups and liaison they started. Ngozi Adeyemi: moving from the crisis team to North CMHT,
-- proposed. Mohammed Rahimi: an admission to Willow Ward accepted, not yet completed; his
-- discharge from an earlier stay in October was followed up only by phone, so the face-to-face
-- follow-up is overdue (R-TRF-3). Thomas Whitfield: discharged from hospital on 20 November and
-- seen at home four days later (done). Aisha Begum: discharged two days before the data was
-- loaded, so her follow-up is due (dated from the load, it is due whenever the demo is loaded).
-- Rosa Fernandes: a transfer to a partner agency rejected. Grzegorz Nowak: an out-of-area
-- placement proposed, then cancelled. Dafydd Hughes: placed out of area since March; the last
-- liaison was in April, so the next is overdue (R-TRF-4).
INSERT INTO transfers (id, episode_id, type, status, reason, receiving_team_id, receiving_staff_id,
                       receiving_external, details, handover, proposed_at, proposed_by,
                       decided_at, decided_by, rejection_reason, completed_at, completed_by,
                       cancelled_at, cancelled_by, cancellation_reason, updated_at, version)
VALUES
  ('f6000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000004', 'internal_team',
   'proposed', 'Crisis resolved; needs longer-term community care.',
   'a0000000-0000-4000-8000-000000000001', 'b0000000-0000-4000-8000-000000000002', NULL, '{}',
   jsonb_build_object('taken_at', '2026-11-25 10:00:00+00'::timestamptz, 'care_plan', NULL, 'risk_summary', jsonb_build_object('overall_level', NULL, 'mare_mappa_referral_needed', false, 'assessments', '[]'::jsonb, 'items', '[]'::jsonb), 'contacts', '{}'::jsonb, 'carers', '[]'::jsonb, 'open_due_items', '[]'::jsonb), '2026-11-25 10:00:00+00', 'staff-kowalska',
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '2026-11-25 10:00:00+00', 1),
  ('f6000000-0000-4000-8000-000000000002', 'd0000000-0000-4000-8000-000000000007', 'hospital_admission',
   'accepted', 'Relapse with risk to self; informal admission agreed.',
   'a0000000-0000-4000-8000-000000000003', NULL, NULL,
   '{"named_nurse_staff_id": "b0000000-0000-4000-8000-000000000006"}',
   jsonb_build_object('taken_at', '2026-11-29 09:00:00+00'::timestamptz, 'care_plan', NULL, 'risk_summary', jsonb_build_object('overall_level', NULL, 'mare_mappa_referral_needed', false, 'assessments', '[]'::jsonb, 'items', '[]'::jsonb), 'contacts', '{}'::jsonb, 'carers', '[]'::jsonb, 'open_due_items', '[]'::jsonb), '2026-11-29 09:00:00+00', 'staff-brown',
   '2026-11-29 11:00:00+00', 'staff-patel', NULL, NULL, NULL, NULL, NULL, NULL,
   '2026-11-29 11:00:00+00', 2),
  ('f6000000-0000-4000-8000-000000000003', 'd0000000-0000-4000-8000-000000000007', 'hospital_discharge',
   'completed', 'Discharged home from Willow Ward.', NULL, NULL,
   '{"name": "Willow Ward", "organisation": "Northgate Hospital", "contact": "01632 960300"}',
   '{"discharged_on": "2026-10-01"}', jsonb_build_object('taken_at', '2026-09-29 10:00:00+01'::timestamptz, 'care_plan', NULL, 'risk_summary', jsonb_build_object('overall_level', NULL, 'mare_mappa_referral_needed', false, 'assessments', '[]'::jsonb, 'items', '[]'::jsonb), 'contacts', '{}'::jsonb, 'carers', '[]'::jsonb, 'open_due_items', '[]'::jsonb),
   '2026-09-29 10:00:00+01', 'staff-brown', '2026-09-30 10:00:00+01', 'staff-okafor', NULL,
   '2026-10-01 15:00:00+01', 'staff-brown', NULL, NULL, NULL, '2026-10-01 15:00:00+01', 3),
  ('f6000000-0000-4000-8000-000000000004', 'd0000000-0000-4000-8000-000000000002', 'hospital_discharge',
   'completed', 'Discharged home after a short admission.', NULL, NULL,
   '{"name": "Willow Ward", "organisation": "Northgate Hospital", "contact": "01632 960300"}',
   '{"discharged_on": "2026-11-20"}', jsonb_build_object('taken_at', '2026-11-18 10:00:00+00'::timestamptz, 'care_plan', NULL, 'risk_summary', jsonb_build_object('overall_level', NULL, 'mare_mappa_referral_needed', false, 'assessments', '[]'::jsonb, 'items', '[]'::jsonb), 'contacts', '{}'::jsonb, 'carers', '[]'::jsonb, 'open_due_items', '[]'::jsonb),
   '2026-11-18 10:00:00+00', 'staff-ahmed', '2026-11-19 10:00:00+00', 'staff-okafor', NULL,
   '2026-11-20 14:00:00+00', 'staff-ahmed', NULL, NULL, NULL, '2026-11-20 14:00:00+00', 3),
  ('f6000000-0000-4000-8000-000000000005', 'd0000000-0000-4000-8000-000000000001', 'hospital_discharge',
   'completed', 'Discharged home after respite admission.', NULL, NULL,
   '{"name": "Willow Ward", "organisation": "Northgate Hospital", "contact": "01632 960300"}',
   jsonb_build_object('discharged_on', current_date - 2),
   jsonb_build_object('taken_at', now() - interval '4 days', 'care_plan', NULL, 'risk_summary', jsonb_build_object('overall_level', NULL, 'mare_mappa_referral_needed', false, 'assessments', '[]'::jsonb, 'items', '[]'::jsonb), 'contacts', '{}'::jsonb, 'carers', '[]'::jsonb, 'open_due_items', '[]'::jsonb),
   now() - interval '4 days', 'staff-ahmed', now() - interval '3 days', 'staff-okafor', NULL,
   now() - interval '2 days', 'staff-ahmed', NULL, NULL, NULL, now() - interval '2 days', 3),
  ('f6000000-0000-4000-8000-000000000006', 'd0000000-0000-4000-8000-000000000009', 'partner_agency',
   'rejected', 'Probation to co-ordinate under a drug rehabilitation requirement.', NULL, NULL,
   '{"name": "Helen Marsh", "organisation": "Probation Service, Eastbridge", "contact": "01632 960456"}',
   '{}', jsonb_build_object('taken_at', '2026-10-10 10:00:00+01'::timestamptz, 'care_plan', NULL, 'risk_summary', jsonb_build_object('overall_level', NULL, 'mare_mappa_referral_needed', false, 'assessments', '[]'::jsonb, 'items', '[]'::jsonb), 'contacts', '{}'::jsonb, 'carers', '[]'::jsonb, 'open_due_items', '[]'::jsonb), '2026-10-10 10:00:00+01', 'staff-murphy',
   '2026-10-14 10:00:00+01', 'staff-murphy',
   'The court did not make a drug rehabilitation requirement.', NULL, NULL, NULL, NULL, NULL,
   '2026-10-14 10:00:00+01', 2),
  ('f6000000-0000-4000-8000-000000000007', 'd0000000-0000-4000-8000-000000000003', 'out_of_area',
   'cancelled', 'Residential rehabilitation place offered in Leeds.', NULL, NULL,
   '{"name": "Bridge House", "organisation": "Bridge House Rehabilitation", "contact": "0113 496 0500", "location": "Leeds"}',
   '{}', jsonb_build_object('taken_at', '2026-09-01 10:00:00+01'::timestamptz, 'care_plan', NULL, 'risk_summary', jsonb_build_object('overall_level', NULL, 'mare_mappa_referral_needed', false, 'assessments', '[]'::jsonb, 'items', '[]'::jsonb), 'contacts', '{}'::jsonb, 'carers', '[]'::jsonb, 'open_due_items', '[]'::jsonb), '2026-09-01 10:00:00+01', 'staff-murphy',
   NULL, NULL, NULL, NULL, NULL, '2026-09-05 10:00:00+01', 'staff-murphy',
   'He chose to stay local and attend the day programme.', '2026-09-05 10:00:00+01', 2),
  ('f6000000-0000-4000-8000-000000000008', 'd0000000-0000-4000-8000-000000000008', 'out_of_area',
   'completed', 'Specialist placement not available locally.', NULL, NULL,
   '{"name": "Cedar Lodge", "organisation": "Cedar Lodge Care", "contact": "01632 960700", "location": "Harrogate"}',
   '{}', jsonb_build_object('taken_at', '2026-02-20 10:00:00+00'::timestamptz, 'care_plan', NULL, 'risk_summary', jsonb_build_object('overall_level', NULL, 'mare_mappa_referral_needed', false, 'assessments', '[]'::jsonb, 'items', '[]'::jsonb), 'contacts', '{}'::jsonb, 'carers', '[]'::jsonb, 'open_due_items', '[]'::jsonb), '2026-02-20 10:00:00+00', 'staff-okafor',
   '2026-02-25 10:00:00+00', 'staff-okafor', NULL, '2026-03-01 10:00:00+00', 'staff-okafor',
   NULL, NULL, NULL, '2026-03-01 10:00:00+00', 3)
ON CONFLICT DO NOTHING;
INSERT INTO transfer_contacts (id, transfer_id, kind, contact_on, face_to_face, by_staff_id, by_name,
                               notes, recorded_at, recorded_by)
VALUES
  ('f6100000-0000-4000-8000-000000000001', 'f6000000-0000-4000-8000-000000000003', 'follow_up',
   '2026-10-03', false, 'b0000000-0000-4000-8000-000000000002', NULL,
   'Phone call; no answer at the door later.', '2026-10-03 16:00:00+01', 'staff-brown'),
  ('f6100000-0000-4000-8000-000000000002', 'f6000000-0000-4000-8000-000000000004', 'follow_up',
   '2026-11-24', true, 'b0000000-0000-4000-8000-000000000001', NULL,
   'Home visit; settling back in.', '2026-11-24 13:00:00+00', 'staff-ahmed'),
  ('f6100000-0000-4000-8000-000000000003', 'f6000000-0000-4000-8000-000000000008', 'liaison',
   '2026-04-01', false, NULL, 'Placement manager, Cedar Lodge', 'Settled; review booked.',
   '2026-04-01 10:00:00+01', 'staff-okafor')
ON CONFLICT DO NOTHING;

COMMIT;
