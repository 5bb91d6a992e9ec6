"""Set-up shared by the episode and allocation tests: staff with tokens, people, and episodes made
directly in the database (episodes are opened by accepting a referral, which these tests do not
depend on)."""

import datetime
import os
import re
import zoneinfo
from types import SimpleNamespace

import pytest
import yaml

from carecoord import (UUID_RE, assert_no_sanitizer_report, create, mint_token, run_binary,
                       service_user_payload, team_payload, unique)

LONDON = zoneinfo.ZoneInfo("Europe/London")


class Staff:
    """A staff row and an API session with a token for its subject."""

    def __init__(self, service, db, team_id, role, professional_role="nurse", active=True, gender="female"):
        self.sub = unique("staff-")
        self.role = role
        self.team_id = team_id
        self.id = str(
            db.scalar(
                "INSERT INTO staff (subject, name, professional_role, team_id, gender, active)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (self.sub, unique("Staff "), professional_role, team_id, gender, active),
            )
        )
        self.api = service.api(token=mint_token(service.env, sub=self.sub, roles=(role,)))

    def close(self):
        self.api.close()


def new_team(api, team_type="community_mental_health"):
    return create(api, "/teams", team_payload(type=team_type))


def new_person(api):
    return create(api, "/service-users", service_user_payload())


def open_episode(db, person_id, team_id, care_level="cpa", status="open"):
    closed = "now()" if status == "closed" else "NULL"
    return str(
        db.scalar(
            "INSERT INTO episodes (service_user_id, team_id, care_level, status, closed_at)"
            f" VALUES (%s, %s, %s, %s, {closed}) RETURNING id",
            (person_id, team_id, care_level, status),
        )
    )


# -- fixtures of the episode and allocation tests (each module defines `teams`, with `cmht`) -----


@pytest.fixture(scope="module")
def staff(service, db, teams):
    """Staff made on demand (team attribute of `teams`, token role), closed at the end of the
    module."""
    made = []

    def make(team="cmht", role="coordinator", **kw):
        member = Staff(service, db, getattr(teams, team)["id"], role, **kw)
        made.append(member)
        return member

    yield make
    for member in made:
        member.close()


@pytest.fixture(scope="module")
def manager(staff):
    """A manager of the community team that holds the episodes."""
    return staff("cmht", "manager", professional_role="manager")


@pytest.fixture
def episode(api, db, teams):
    """A person with an open episode on CPA held by the community team."""
    person = new_person(api)
    return SimpleNamespace(person=person, id=open_episode(db, person["id"], teams.cmht["id"]))


def preferences(met=True, reason=None, gender="no_preference", needs=None):
    body = {"coordinator_gender": gender, "met": met}
    if reason is not None:
        body["not_met_reason"] = reason
    if needs is not None:
        body["cultural_religious_needs"] = needs
    return body


def allocation_body(holder_id, role="care_coordinator", **extra):
    body = {"role": role, "holder_staff_id": holder_id, "preferences": preferences()}
    body.update(extra)
    return body


def events(db, resource_type, resource_id=None, actor=None):
    """Audit events about one resource (or a collection when resource_id is None), oldest first."""
    sql = "SELECT * FROM audit_events WHERE resource_type = %s"
    params = [resource_type]
    if resource_id is not None:
        sql += " AND resource_id = %s"
        params.append(resource_id)
    if actor is not None:
        sql += " AND actor = %s"
        params.append(actor)
    return db.rows(sql + " ORDER BY id", tuple(params))


def london_date(instant):
    """The Europe/London calendar date of an aware datetime."""
    return instant.astimezone(LONDON).date()


def due_after(instant, days):
    """The date `days` calendar days after the London date of instant, as YYYY-MM-DD."""
    return (london_date(instant) + datetime.timedelta(days=days)).isoformat()


# -- the OpenAPI contract ----------------------------------------------------------------------

_TYPES = {
    "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
    "integer": int, "number": (int, float),
}


def _schema_errors(spec, schema, value, where):
    """The ways value breaks schema (a subset of JSON Schema: what api/openapi.yaml uses)."""
    while "$ref" in schema:
        node = spec
        for part in schema["$ref"][2:].split("/"):
            node = node[part]
        schema = node
    errors = []
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = any(isinstance(value, _TYPES[t]) and not (t in ("integer", "number") and isinstance(value, bool))
                 for t in types)
        if not ok:
            return [f"{where}: {value!r} is not of type {types}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: {value!r} is not {schema['const']!r}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
            errors.append(f"{where}: length {len(value)} out of bounds")
        if schema.get("format") == "date" and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            errors.append(f"{where}: {value!r} is not a date")
        if schema.get("format") == "uuid" and not UUID_RE.match(value):
            errors.append(f"{where}: {value!r} is not a UUID")
    if isinstance(value, int) and not isinstance(value, bool) and value < schema.get("minimum", value):
        errors.append(f"{where}: {value} below minimum")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{where}: {name} is required")
        for name, member in value.items():
            if name in props:
                errors += _schema_errors(spec, props[name], member, f"{where}/{name}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{where}: {name} is not in the schema")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += _schema_errors(spec, schema["items"], item, f"{where}/{i}")
    for sub in schema.get("allOf", []):
        errors += _schema_errors(spec, sub, value, where)
    if "oneOf" in schema:
        matching = [s for s in schema["oneOf"] if not _schema_errors(spec, s, value, where)]
        if len(matching) != 1:
            errors.append(f"{where}: {value!r} matches {len(matching)} of oneOf")
    return errors


_spec = None


def assert_conforms(repo, schema_name, value):
    """Assert value is a valid instance of components/schemas/<schema_name> of api/openapi.yaml."""
    global _spec
    if _spec is None:
        with open(os.path.join(repo, "api", "openapi.yaml"), encoding="utf-8") as f:
            _spec = yaml.safe_load(f)
    errors = _schema_errors(_spec, {"$ref": f"#/components/schemas/{schema_name}"}, value, "")
    assert not errors, f"not a valid {schema_name}:\n" + "\n".join(errors)


def register_partner(service, database, code, kind="adult_social_care", name=None, active=True):
    """`carecoord partner CODE KIND NAME [--inactive]`, as an operator runs it."""
    args = ["partner", code, kind, name or f"Partner {code}"] + ([] if active else ["--inactive"])
    done = run_binary(service.env, args,
                      extra_env={"CARECOORD_MIGRATION_DATABASE_URL": database.owner_url})
    assert_no_sanitizer_report(done.stderr, "carecoord partner")
    return done


def partner_api(service, org, sub=None):
    """An API session of a partner organisation's system (role partner, `org` claim)."""
    return service.api(token=mint_token(service.env, sub=sub or unique("partner-system-"),
                                        roles=("partner",), org=org))
