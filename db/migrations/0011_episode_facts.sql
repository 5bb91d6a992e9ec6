-- Episode facts: what the clocks, worklists and reports are computed from, one row per episode,
-- kept by the database itself in the transaction of every change that alters them.
--
-- Why: a team's worklist reads a thousand episodes or more, and a month's report every episode
-- in the region. Computed from the records each time, that is seven correlated subqueries per
-- episode (75 ms for a team, 660 ms for one month of one report across 60 teams at 100,000
-- people). Here it is one indexed row per episode.
--
-- Correctness: the facts are derived, never written by the application (it may only read them).
-- Statement-level triggers on every table a fact comes from recompute the facts of the
-- episodes the statement touched, from the records, in the same transaction. The refresh first
-- locks the facts rows, so two transactions changing one episode's records refresh one after
-- the other, and the second (a new statement, with a new snapshot under READ COMMITTED) sees
-- the first's committed change. Records are never deleted (immutability triggers).
--
-- Dates are Europe/London calendar dates, as the rules count (service/rules/clocks.h).

CREATE TABLE episode_facts (
  episode_id            uuid PRIMARY KEY REFERENCES episodes (id),
  service_user_id       uuid NOT NULL,
  team_id               uuid NOT NULL,
  status                text NOT NULL,
  opened_on             date NOT NULL,
  closed_on             date,
  -- The first co-ordinating allocation's start: the clocks of R-ASM-1, R-CPL-1, R-REV-1.
  clock_started_at      timestamptz,
  clock_started_on      date,
  current_allocation_role text,
  -- Whether the current allocation records the preferences asked for (R-ALC-3), and whether the
  -- active care plan's current version has the person's agreement recorded (R-CPL-4); NULL when
  -- there is no current allocation, or no active plan.
  allocation_preferences_recorded boolean,
  care_plan_agreement_recorded boolean,
  -- Whether the person's record lacks an address, a GP practice (data quality, 000 §4.9).
  person_address_missing boolean NOT NULL,
  person_gp_practice_missing boolean NOT NULL,
  -- Who holds the current allocation (staff, or an external holder by name) and deputises, and
  -- since when (a caseload at the end of a past day is the current holder's when this is
  -- earlier, and otherwise is looked up in the allocations).
  current_allocation_started_at timestamptz,
  holder_staff_id       uuid,
  external_holder_name  text,
  deputy_staff_id       uuid,
  -- The episode summary's care_plan: the active plan's id and version, whether that version was
  -- agreed (and signed) and sent to the person and the GP (R-CPL-4); NULL without one.
  care_plan_summary     jsonb,
  -- When the first holistic assessment, the last assessment with a risk section, the last TOPs
  -- were completed; when the first care plan was activated; the last review held.
  holistic_completed_at timestamptz,
  risk_completed_at     timestamptz,
  tops_completed_at     timestamptz,
  plan_activated_at     timestamptz,
  review_held_on        date,
  -- History, for reports as at the end of past months: the days on CPA (from the care-level
  -- history), the days reviews were held and the days assessments with a risk section were
  -- completed. Sets of days as multiranges, so that "one within these dates" is an overlap test.
  cpa_days              datemultirange NOT NULL,
  review_days           datemultirange NOT NULL,
  risk_days             datemultirange NOT NULL
);
CREATE INDEX episode_facts_team_idx ON episode_facts (team_id, opened_on);
CREATE INDEX episode_facts_person_idx ON episode_facts (service_user_id);
CREATE INDEX episode_facts_clock_idx ON episode_facts (clock_started_on);
-- The reports of CPA measures read only the episodes on CPA at some time in their period.
CREATE INDEX episode_facts_cpa_idx ON episode_facts USING gist (cpa_days);

CREATE FUNCTION london_date(t timestamptz) RETURNS date
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN (t AT TIME ZONE 'Europe/London')::date;

-- The care level an episode had when it opened, before its recorded changes: the first change's
-- from_level (NULL when the first change set the initial level), or, with no history at all,
-- the level it has.
CREATE FUNCTION episode_initial_level(episode uuid, current_level text) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN first.episode_id IS NULL THEN current_level ELSE first.from_level END
    FROM (SELECT 1) one
    LEFT JOIN LATERAL (SELECT c.episode_id, c.from_level FROM episode_care_level_changes c
                        WHERE c.episode_id = episode ORDER BY c.changed_at, c.id LIMIT 1) first
      ON true
$$;

CREATE FUNCTION episode_facts_refresh(ids uuid[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  -- Wait for any other transaction refreshing these episodes (see the top of this file).
  PERFORM 1 FROM episode_facts WHERE episode_id = ANY (ids) ORDER BY episode_id FOR UPDATE;
  INSERT INTO episode_facts AS f
  SELECT e.id, e.service_user_id, e.team_id, e.status, london_date(e.opened_at),
         london_date(e.closed_at),
         clock.started_at, london_date(clock.started_at),
         held.role,
         CASE WHEN held.id IS NOT NULL THEN held.preferred_coordinator_gender IS NOT NULL END,
         CASE WHEN plan.id IS NOT NULL THEN plan.agreement IS NOT NULL END,
         su.address IS NULL, su.gp_practice IS NULL,
         held.started_at, held.holder_staff_id, held.external_holder_name, held.deputy_staff_id,
         CASE WHEN plan.id IS NOT NULL THEN jsonb_build_object(
           'id', plan.id, 'plan_version', plan.plan_version,
           'agreed', (plan.agreement ->> 'agreed')::boolean,
           'signed', COALESCE(plan.agreement ->> 'how' = 'signed', false),
           'sent_to_person', plan.sent_to_person, 'sent_to_gp', plan.sent_to_gp) END,
         (SELECT min(c.completed_at) FROM assessments c WHERE c.episode_id = e.id
            AND c.status = 'completed' AND c.type = 'holistic'),
         (SELECT max(c.completed_at) FROM assessments c WHERE c.episode_id = e.id
            AND c.status = 'completed' AND c.risk IS NOT NULL),
         (SELECT max(c.completed_at) FROM assessments c WHERE c.episode_id = e.id
            AND c.status = 'completed' AND c.type = 'tops'),
         (SELECT min(p.activated_at) FROM care_plans p WHERE p.episode_id = e.id),
         (SELECT max(r.held_on) FROM reviews r WHERE r.episode_id = e.id AND r.status = 'held'),
         COALESCE((SELECT range_agg(daterange(l.from_on, l.to_on))
                     FROM (SELECT l0.level, l0.from_on,
                                  lead(l0.from_on) OVER (ORDER BY l0.at, l0.id) AS to_on
                             FROM (SELECT london_date(e.opened_at) AS from_on,
                                          episode_initial_level(e.id, e.care_level) AS level,
                                          '-infinity'::timestamptz AS at, NULL::uuid AS id
                                   UNION ALL
                                   SELECT london_date(c.changed_at), c.to_level, c.changed_at,
                                          c.id
                                     FROM episode_care_level_changes c
                                    WHERE c.episode_id = e.id) l0) l
                    WHERE l.level = 'cpa' AND l.from_on < COALESCE(l.to_on, 'infinity')),
                  '{}'::datemultirange),
         COALESCE((SELECT range_agg(daterange(r.held_on, r.held_on, '[]')) FROM reviews r
                    WHERE r.episode_id = e.id AND r.status = 'held'), '{}'::datemultirange),
         COALESCE((SELECT range_agg(daterange(london_date(c.completed_at),
                                              london_date(c.completed_at), '[]'))
                     FROM assessments c WHERE c.episode_id = e.id AND c.status = 'completed'
                      AND c.risk IS NOT NULL), '{}'::datemultirange)
    FROM episodes e
    JOIN service_users su ON su.id = e.service_user_id
    LEFT JOIN LATERAL (SELECT a.started_at FROM allocations a WHERE a.episode_id = e.id
                          AND a.role IN ('care_coordinator', 'lead_professional')
                        ORDER BY a.started_at, a.id LIMIT 1) clock ON true
    LEFT JOIN allocations held ON held.episode_id = e.id AND held.ended_at IS NULL
    -- The active plan, the agreement in force for its version (the latest recorded), and
    -- whether that version was sent to the person and to the GP.
    LEFT JOIN LATERAL (
      SELECT p.id, p.plan_version,
             (SELECT g.agreement FROM care_plan_agreements g WHERE g.care_plan_id = p.id
                 AND g.plan_version = p.plan_version
               ORDER BY g.recorded_at DESC, g.id DESC LIMIT 1) AS agreement,
             EXISTS (SELECT 1 FROM care_plan_distributions d WHERE d.care_plan_id = p.id
                        AND d.plan_version = p.plan_version
                        AND d.recipient_type = 'person') AS sent_to_person,
             EXISTS (SELECT 1 FROM care_plan_distributions d WHERE d.care_plan_id = p.id
                        AND d.plan_version = p.plan_version
                        AND d.recipient_type = 'gp') AS sent_to_gp
        FROM care_plans p WHERE p.episode_id = e.id AND p.status = 'active') plan ON true
   WHERE e.id = ANY (ids)
  ON CONFLICT (episode_id) DO UPDATE SET
    service_user_id = EXCLUDED.service_user_id, team_id = EXCLUDED.team_id,
    status = EXCLUDED.status, opened_on = EXCLUDED.opened_on, closed_on = EXCLUDED.closed_on,
    clock_started_at = EXCLUDED.clock_started_at,
    clock_started_on = EXCLUDED.clock_started_on,
    current_allocation_role = EXCLUDED.current_allocation_role,
    allocation_preferences_recorded = EXCLUDED.allocation_preferences_recorded,
    care_plan_agreement_recorded = EXCLUDED.care_plan_agreement_recorded,
    person_address_missing = EXCLUDED.person_address_missing,
    person_gp_practice_missing = EXCLUDED.person_gp_practice_missing,
    current_allocation_started_at = EXCLUDED.current_allocation_started_at,
    holder_staff_id = EXCLUDED.holder_staff_id,
    external_holder_name = EXCLUDED.external_holder_name,
    deputy_staff_id = EXCLUDED.deputy_staff_id, care_plan_summary = EXCLUDED.care_plan_summary,
    holistic_completed_at = EXCLUDED.holistic_completed_at,
    risk_completed_at = EXCLUDED.risk_completed_at,
    tops_completed_at = EXCLUDED.tops_completed_at,
    plan_activated_at = EXCLUDED.plan_activated_at, review_held_on = EXCLUDED.review_held_on,
    cpa_days = EXCLUDED.cpa_days, review_days = EXCLUDED.review_days,
    risk_days = EXCLUDED.risk_days;
END
$$;

-- One trigger function per shape of table: episodes name themselves, the others their episode.
CREATE FUNCTION episode_facts_after_episodes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  PERFORM episode_facts_refresh(ARRAY(SELECT DISTINCT id FROM changed));
  RETURN NULL;
END
$$;
CREATE FUNCTION episode_facts_after_records() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  PERFORM episode_facts_refresh(ARRAY(SELECT DISTINCT episode_id FROM changed));
  RETURN NULL;
END
$$;

-- Agreements and distributions name their care plan.
CREATE FUNCTION episode_facts_after_agreements() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  PERFORM episode_facts_refresh(ARRAY(SELECT DISTINCT p.episode_id FROM changed
                                        JOIN care_plans p ON p.id = changed.care_plan_id));
  RETURN NULL;
END
$$;

-- A person's address or GP practice recorded or removed: their episodes' data-quality facts.
CREATE FUNCTION episode_facts_after_people() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  PERFORM episode_facts_refresh(ARRAY(
    SELECT e.id FROM changed n JOIN previous o ON o.id = n.id
      JOIN episodes e ON e.service_user_id = n.id
     WHERE (o.address IS NULL) <> (n.address IS NULL)
        OR (o.gp_practice IS NULL) <> (n.gp_practice IS NULL)));
  RETURN NULL;
END
$$;
CREATE TRIGGER episode_facts_update AFTER UPDATE ON service_users
  REFERENCING OLD TABLE AS previous NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION episode_facts_after_people();

-- A trigger with transition tables names one event, hence two per table (agreements and
-- distributions are never changed, only added).
CREATE TRIGGER episode_facts_insert AFTER INSERT ON episodes REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION episode_facts_after_episodes();
CREATE TRIGGER episode_facts_update AFTER UPDATE ON episodes REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION episode_facts_after_episodes();
CREATE TRIGGER episode_facts_insert AFTER INSERT ON care_plan_agreements
  REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION episode_facts_after_agreements();
CREATE TRIGGER episode_facts_insert AFTER INSERT ON care_plan_distributions
  REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION episode_facts_after_agreements();
DO $$
DECLARE
  source text;
BEGIN
  FOREACH source IN ARRAY ARRAY['episode_care_level_changes', 'allocations', 'assessments',
                                'care_plans', 'reviews'] LOOP
    EXECUTE format('CREATE TRIGGER episode_facts_insert AFTER INSERT ON %I'
                   ' REFERENCING NEW TABLE AS changed FOR EACH STATEMENT'
                   ' EXECUTE FUNCTION episode_facts_after_records()', source);
    EXECUTE format('CREATE TRIGGER episode_facts_update AFTER UPDATE ON %I'
                   ' REFERENCING NEW TABLE AS changed FOR EACH STATEMENT'
                   ' EXECUTE FUNCTION episode_facts_after_records()', source);
  END LOOP;
END
$$;

SELECT episode_facts_refresh(ARRAY(SELECT id FROM episodes));

-- Reports count by the months things happened in: referrals received, carers identified,
-- discharges from hospital.
CREATE INDEX referrals_received_team_idx ON referrals (responding_team_id, received_at);
CREATE INDEX carers_identified_idx ON carers (identified_on);
CREATE INDEX transfers_completed_idx ON transfers (type, completed_at) WHERE status = 'completed';

DO $$
DECLARE
  app text := current_setting('carecoord.app_role');
BEGIN
  EXECUTE format('GRANT SELECT ON episode_facts TO %I', app);
END
$$;
