-- Assessments (DOMAIN.md care cycle step 4; R-ASM-1..7): screening, the holistic assessment with
-- its risk section and CPA decision, risk reviews, Treatment Outcome Profiles and specialist
-- assessments, each belonging to an episode. The sections are JSON documents validated by the
-- service against its field tables; the CHECKs below hold what must never be otherwise.

CREATE TABLE assessments (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  episode_id           uuid NOT NULL REFERENCES episodes (id),
  type                 text NOT NULL CHECK (type IN ('initial', 'holistic', 'risk_review', 'tops',
                         'specialist')),
  status               text NOT NULL DEFAULT 'in_progress'
                         CHECK (status IN ('in_progress', 'completed')),
  -- A correction of a completed assessment is a new assessment of the same episode and type
  -- that amends it; each assessment is amended at most once, so corrections form a chain.
  amends_assessment_id uuid,
  specialism           text CHECK (char_length(specialism) BETWEEN 1 AND 200),
  summary              text CHECK (char_length(summary) BETWEEN 1 AND 10000),
  domains              jsonb CHECK (jsonb_typeof(domains) = 'object'),
  risk                 jsonb CHECK (jsonb_typeof(risk) = 'object'),
  capacity             jsonb CHECK (jsonb_typeof(capacity) = 'object'),
  children             jsonb CHECK (jsonb_typeof(children) = 'object'),
  cpa_decision         jsonb CHECK (jsonb_typeof(cpa_decision) = 'object'),
  tops                 jsonb CHECK (jsonb_typeof(tops) = 'object'),
  created_at           timestamptz NOT NULL DEFAULT now(),
  created_by           text NOT NULL DEFAULT current_user
                         CHECK (char_length(created_by) BETWEEN 1 AND 200),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  completed_at         timestamptz,
  completed_by         text CHECK (char_length(completed_by) BETWEEN 1 AND 200),
  version              integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  CONSTRAINT assessments_completion CHECK (
    (status = 'completed') = (completed_at IS NOT NULL)
    AND (completed_at IS NULL) = (completed_by IS NULL)),
  -- R-ASM-2: a completed holistic assessment always has its risk section.
  CONSTRAINT assessments_holistic_risk CHECK (
    type <> 'holistic' OR status <> 'completed' OR risk IS NOT NULL),
  CONSTRAINT assessments_sections_by_type CHECK (
    (type = 'holistic' OR (domains IS NULL AND cpa_decision IS NULL))
    AND (type = 'tops' OR tops IS NULL)
    AND (type <> 'tops' OR (risk IS NULL AND capacity IS NULL AND children IS NULL))
    AND (type = 'specialist' OR specialism IS NULL)),
  CONSTRAINT assessments_id_episode_key UNIQUE (id, episode_id),
  CONSTRAINT assessments_amends_same_episode_fk
    FOREIGN KEY (amends_assessment_id, episode_id) REFERENCES assessments (id, episode_id),
  CONSTRAINT assessments_amends_key UNIQUE (amends_assessment_id),
  CONSTRAINT assessments_amends_other CHECK (amends_assessment_id <> id)
);

-- An episode's assessments, newest first (the list), and the latest completed of each type
-- (the clocks in the episode summary and the risk summary).
CREATE INDEX assessments_episode_idx ON assessments (episode_id, created_at, id);
CREATE INDEX assessments_completed_idx ON assessments (episode_id, type, completed_at)
  WHERE status = 'completed';

-- A completed assessment is immutable: it is part of the clinical record as it was signed off.
-- The service refuses the change first (409); this stops any other writer.
CREATE FUNCTION assessments_completed_are_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status = 'completed' THEN
    RAISE EXCEPTION 'assessment % is completed and cannot change', OLD.id
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER assessments_immutable_when_completed
  BEFORE UPDATE OR DELETE ON assessments
  FOR EACH ROW EXECUTE FUNCTION assessments_completed_are_immutable();

DO $$
DECLARE
  app text := current_setting('carecoord.app_role');
BEGIN
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON assessments TO %I', app);
END
$$;
