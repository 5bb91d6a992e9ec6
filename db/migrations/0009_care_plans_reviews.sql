-- Care plans and CPA reviews (DOMAIN.md care cycle steps 5-6; R-CPL-1..4, R-REV-1..3). The plan's
-- content and the review's lists are JSON documents validated by the service against its field
-- tables; the CHECKs below hold what must never be otherwise.

CREATE TABLE care_plans (
  id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  episode_id                uuid NOT NULL REFERENCES episodes (id),
  status                    text NOT NULL DEFAULT 'draft'
                              CHECK (status IN ('draft', 'active', 'superseded')),
  -- R-CPL-3: the number of the version the content is; a draft is version 1 until it is
  -- activated, and each change of an active plan is the next number.
  plan_version              integer NOT NULL DEFAULT 1 CHECK (plan_version >= 1),
  content                   jsonb NOT NULL CHECK (jsonb_typeof(content) = 'object'),
  created_at                timestamptz NOT NULL DEFAULT now(),
  created_by                text NOT NULL DEFAULT current_user
                              CHECK (char_length(created_by) BETWEEN 1 AND 200),
  updated_at                timestamptz NOT NULL DEFAULT now(),
  activated_at              timestamptz,
  superseded_at             timestamptz,
  superseded_by_care_plan_id uuid REFERENCES care_plans (id),
  version                   integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  CONSTRAINT care_plans_activation CHECK ((status = 'draft') = (activated_at IS NULL)),
  CONSTRAINT care_plans_superseding CHECK (
    (status = 'superseded') = (superseded_at IS NOT NULL)),
  CONSTRAINT care_plans_id_episode_key UNIQUE (id, episode_id)
);
-- An episode has at most one active plan: activating another supersedes it.
CREATE UNIQUE INDEX care_plans_one_active_per_episode ON care_plans (episode_id)
  WHERE status = 'active';
CREATE INDEX care_plans_episode_idx ON care_plans (episode_id, created_at, id);

-- R-CPL-3: every version a plan had once active, never changed.
CREATE TABLE care_plan_versions (
  care_plan_id uuid NOT NULL REFERENCES care_plans (id),
  number       integer NOT NULL CHECK (number >= 1),
  content      jsonb NOT NULL CHECK (jsonb_typeof(content) = 'object'),
  created_at   timestamptz NOT NULL DEFAULT now(),
  created_by   text NOT NULL CHECK (char_length(created_by) BETWEEN 1 AND 200),
  PRIMARY KEY (care_plan_id, number)
);

-- R-CPL-4: the person's agreement with a version (agreed, how and when, or why not), each time
-- it was recorded; the latest for a version is the one in force. A new version starts with none.
CREATE TABLE care_plan_agreements (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  care_plan_id uuid NOT NULL REFERENCES care_plans (id),
  plan_version integer NOT NULL CHECK (plan_version >= 1),
  agreement    jsonb NOT NULL CHECK (jsonb_typeof(agreement) = 'object'),
  recorded_at  timestamptz NOT NULL DEFAULT now(),
  recorded_by  text NOT NULL CHECK (char_length(recorded_by) BETWEEN 1 AND 200)
);
CREATE INDEX care_plan_agreements_plan_idx
  ON care_plan_agreements (care_plan_id, plan_version, recorded_at);

-- R-CPL-4: who each version was sent to, how and when.
CREATE TABLE care_plan_distributions (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  care_plan_id   uuid NOT NULL,
  plan_version   integer NOT NULL,
  recipient_type text NOT NULL CHECK (recipient_type IN ('person', 'gp', 'carer', 'agency')),
  recipient_name text CHECK (char_length(recipient_name) BETWEEN 1 AND 200),
  method         text NOT NULL CHECK (method IN ('post', 'email', 'secure_email', 'hand',
                   'portal', 'phone_summary')),
  sent_on        date NOT NULL,
  recorded_at    timestamptz NOT NULL DEFAULT now(),
  recorded_by    text NOT NULL CHECK (char_length(recorded_by) BETWEEN 1 AND 200),
  CONSTRAINT care_plan_distributions_version_fk
    FOREIGN KEY (care_plan_id, plan_version) REFERENCES care_plan_versions (care_plan_id, number),
  CONSTRAINT care_plan_distributions_named CHECK (
    recipient_type IN ('person', 'gp') OR recipient_name IS NOT NULL)
);
CREATE INDEX care_plan_distributions_plan_idx
  ON care_plan_distributions (care_plan_id, plan_version, recorded_at);

-- Versions, agreements and distributions are history: nothing changes or removes them.
CREATE FUNCTION care_plan_history_is_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% rows are history and cannot change', TG_TABLE_NAME
    USING ERRCODE = 'object_not_in_prerequisite_state';
END
$$;
CREATE TRIGGER care_plan_versions_immutable BEFORE UPDATE OR DELETE ON care_plan_versions
  FOR EACH ROW EXECUTE FUNCTION care_plan_history_is_immutable();
CREATE TRIGGER care_plan_agreements_immutable BEFORE UPDATE OR DELETE ON care_plan_agreements
  FOR EACH ROW EXECUTE FUNCTION care_plan_history_is_immutable();
CREATE TRIGGER care_plan_distributions_immutable BEFORE UPDATE OR DELETE ON care_plan_distributions
  FOR EACH ROW EXECUTE FUNCTION care_plan_history_is_immutable();

-- CPA reviews (R-REV-1..3): planned with a due date and invitees, then held with attendees, a
-- chair, a summary and an outcome, after which the review never changes.
CREATE TABLE reviews (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  episode_id        uuid NOT NULL REFERENCES episodes (id),
  type              text NOT NULL CHECK (type IN ('scheduled', 'urgent', 'discharge')),
  status            text NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'held')),
  due_on            date NOT NULL,
  request_reason    text CHECK (char_length(request_reason) BETWEEN 1 AND 2000),
  invitees          jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(invitees) = 'array'),
  held_on           date,
  attendees         jsonb CHECK (jsonb_typeof(attendees) = 'array'),
  chaired_by        jsonb CHECK (jsonb_typeof(chaired_by) = 'object'),
  summary           text CHECK (char_length(summary) BETWEEN 1 AND 10000),
  outcome           text CHECK (outcome IN ('continue', 'step_down', 'step_up', 'transfer',
                      'discharge')),
  care_level_before text CHECK (care_level_before IN ('cpa', 'non_cpa')),
  care_level_after  text CHECK (care_level_after IN ('cpa', 'non_cpa')),
  next_review_due   date,
  created_at        timestamptz NOT NULL DEFAULT now(),
  created_by        text NOT NULL DEFAULT current_user
                      CHECK (char_length(created_by) BETWEEN 1 AND 200),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  held_recorded_by  text CHECK (char_length(held_recorded_by) BETWEEN 1 AND 200),
  version           integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  -- R-REV-1: an urgent review is requested with its reason.
  CONSTRAINT reviews_urgent_reason CHECK (type <> 'urgent' OR request_reason IS NOT NULL),
  -- R-REV-2: a held review has everything it records.
  CONSTRAINT reviews_held_complete CHECK (
    (status = 'held') = (held_on IS NOT NULL)
    AND (status <> 'held' OR (attendees IS NOT NULL AND chaired_by IS NOT NULL
                              AND summary IS NOT NULL AND outcome IS NOT NULL
                              AND care_level_before IS NOT NULL
                              AND care_level_after IS NOT NULL
                              AND held_recorded_by IS NOT NULL)))
);
CREATE INDEX reviews_episode_idx ON reviews (episode_id, due_on, id);
CREATE INDEX reviews_held_idx ON reviews (episode_id, held_on) WHERE status = 'held';

-- A held review is part of the record as it was: nothing changes it.
CREATE FUNCTION reviews_held_are_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status = 'held' THEN
    RAISE EXCEPTION 'review % was held and cannot change', OLD.id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER reviews_immutable_when_held BEFORE UPDATE OR DELETE ON reviews
  FOR EACH ROW EXECUTE FUNCTION reviews_held_are_immutable();

-- A superseded plan is history too (the service refuses first, 409).
CREATE FUNCTION care_plans_superseded_are_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status = 'superseded' THEN
    RAISE EXCEPTION 'care plan % is superseded and cannot change', OLD.id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER care_plans_immutable_when_superseded BEFORE UPDATE OR DELETE ON care_plans
  FOR EACH ROW EXECUTE FUNCTION care_plans_superseded_are_immutable();

DO $$
DECLARE
  app text := current_setting('carecoord.app_role');
BEGIN
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON care_plans, reviews TO %I', app);
  EXECUTE format('GRANT SELECT, INSERT ON care_plan_versions, care_plan_agreements,'
                 ' care_plan_distributions TO %I', app);
END
$$;
