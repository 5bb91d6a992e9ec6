-- Foundation: teams, staff, service users, a minimal episode table (the team filter needs it;
-- the intake migration extends it), idempotency keys and the audit trail.
-- The application role is named by the migrator (SET carecoord.app_role) so that deployments
-- can choose their own role names.

CREATE TABLE teams (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 120),
  type        text NOT NULL CHECK (type IN ('community_mental_health', 'crisis_home_treatment',
                'inpatient_ward', 'early_intervention', 'substance_misuse', 'other')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  version     integer NOT NULL DEFAULT 1 CHECK (version >= 1)
);
CREATE UNIQUE INDEX teams_name_key ON teams (lower(name));
CREATE INDEX teams_list_idx ON teams ((lower(name) COLLATE "C"), id);

CREATE TABLE staff (
  id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  subject           text NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 200),
  name              text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 120),
  professional_role text NOT NULL CHECK (professional_role IN ('nurse', 'social_worker',
                      'occupational_therapist', 'psychologist', 'psychiatrist', 'doctor',
                      'support_worker', 'manager', 'other')),
  team_id           uuid NOT NULL REFERENCES teams (id),
  gender            text NOT NULL CHECK (gender IN ('male', 'female', 'other', 'unknown')),
  active            boolean NOT NULL DEFAULT true,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  version           integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  CONSTRAINT staff_subject_key UNIQUE (subject)
);
CREATE INDEX staff_list_idx ON staff ((lower(name) COLLATE "C"), id);
CREATE INDEX staff_team_idx ON staff (team_id, (lower(name) COLLATE "C"), id);

CREATE TABLE service_users (
  id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  nhs_number               text NOT NULL CHECK (nhs_number ~ '^[0-9]{10}$'),
  given_name               text NOT NULL CHECK (char_length(given_name) BETWEEN 1 AND 100),
  family_name              text NOT NULL CHECK (char_length(family_name) BETWEEN 1 AND 100),
  date_of_birth            date NOT NULL CHECK (date_of_birth >= DATE '1900-01-01'),
  gender                   text NOT NULL CHECK (gender IN ('male', 'female', 'other', 'unknown')),
  address                  jsonb CHECK (address IS NULL OR jsonb_typeof(address) = 'object'),
  gp_practice              jsonb CHECK (gp_practice IS NULL OR jsonb_typeof(gp_practice) = 'object'),
  preferred_language       text CHECK (char_length(preferred_language) BETWEEN 1 AND 35),
  interpreter_required     boolean NOT NULL DEFAULT false,
  cultural_religious_needs text CHECK (char_length(cultural_religious_needs) <= 2000),
  communication_needs      text CHECK (char_length(communication_needs) <= 2000),
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now(),
  version                  integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  CONSTRAINT service_users_nhs_number_key UNIQUE (nhs_number)
);
-- Lists are ordered by (family name, given name, id), compared bytewise so that keyset cursors
-- and the prefix search (LIKE 'abc%') can both use this one index.
CREATE INDEX service_users_name_idx ON service_users
  ((lower(family_name) COLLATE "C"), (lower(given_name) COLLATE "C"), id);

CREATE TABLE episodes (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  service_user_id uuid NOT NULL REFERENCES service_users (id),
  team_id         uuid NOT NULL REFERENCES teams (id),
  status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
  opened_at       timestamptz NOT NULL DEFAULT now(),
  closed_at       timestamptz,
  CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
CREATE INDEX episodes_open_by_team_idx ON episodes (team_id, service_user_id) WHERE status = 'open';
CREATE INDEX episodes_service_user_idx ON episodes (service_user_id);

-- A claimed key is inserted before the work it guards, in the same transaction, so a concurrent
-- retry waits on the unique index and then replays the committed response.
CREATE TABLE idempotency_keys (
  scope             text NOT NULL CHECK (char_length(scope) <= 400),
  key               text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 200),
  request_hash      text NOT NULL,
  response_status   integer,
  response_body     text,
  response_location text,
  response_etag     text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, key)
);

CREATE TABLE audit_events (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  occurred_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  actor           text NOT NULL CHECK (char_length(actor) <= 200),
  roles           text[] NOT NULL DEFAULT '{}',
  action          text NOT NULL CHECK (action IN ('create', 'read', 'update', 'delete', 'deny',
                    'break_glass', 'export')),
  resource_type   text NOT NULL,
  resource_id     text,
  service_user_id uuid,
  request_id      text NOT NULL,
  client_address  text,
  outcome         text NOT NULL CHECK (outcome IN ('success', 'denied', 'failed')),
  details         jsonb
);
CREATE INDEX audit_events_service_user_idx ON audit_events (service_user_id, id) WHERE service_user_id IS NOT NULL;
CREATE INDEX audit_events_actor_idx ON audit_events (actor, id);

DO $$
DECLARE
  app text := current_setting('carecoord.app_role');
BEGIN
  EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', app);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE ON teams, staff, service_users, episodes TO %I', app);
  EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO %I', app);
  EXECUTE format('GRANT SELECT, INSERT ON audit_events TO %I', app);
  EXECUTE format('GRANT SELECT ON schema_migrations TO %I', app);
END
$$;
