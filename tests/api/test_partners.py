"""Partner organisations (GET /partners, GET /partners/me, `carecoord partner`): operators register
them with the owner's connection; a partner system is known by its token's `org` claim, and an
organisation the service does not know, or no longer works with, is refused and the refusal
audited."""

import pytest

from care_setup import events, partner_api, register_partner as register
from carecoord import mint_token, run_binary, unique


def test_an_operator_registers_a_partner_and_its_system_sees_itself(service, database, api):
    code = unique("asc-")
    done = register(service, database, code, name="Leeds Adult Social Care")
    assert done.returncode == 0, done.stderr
    with partner_api(service, code) as partner:
        r = partner.get("/partners/me")
    assert r.status_code == 200, r.text
    assert r.json() == {"code": code, "name": "Leeds Adult Social Care",
                        "kind": "adult_social_care", "active": True, "last_event_seq": 0}
    listed = api.get("/partners")
    assert listed.status_code == 200
    assert {"code": code, "name": "Leeds Adult Social Care", "kind": "adult_social_care",
            "active": True} in listed.json()


def test_an_unknown_or_deactivated_organisation_is_refused_and_audited(service, database, db,
                                                                        api):
    code = unique("probation-")
    assert register(service, database, code, kind="probation").returncode == 0
    assert register(service, database, code, kind="probation", active=False).returncode == 0
    for org in (code, unique("nobody-")):
        with partner_api(service, org, sub="refused-" + org) as partner:
            r = partner.get("/partners/me")
        assert r.status_code == 403
        assert r.headers["Content-Type"].startswith("application/problem+json")
        denied = events(db, "partner_organisation", org, actor="refused-" + org)
        assert [(e["action"], e["outcome"]) for e in denied] == [("deny", "denied")]
    # Deactivated organisations are not offered as recipients either.
    assert code not in [o["code"] for o in api.get("/partners").json()]


@pytest.mark.parametrize("args", [["partner", "bad code!", "other", "X"],
                                  ["partner", "ok-code", "martians", "X"],
                                  ["partner", "ok-code", "other"]])
def test_the_command_refuses_bad_registrations(service, database, db, args):
    done = run_binary(service.env, args,
                      extra_env={"CARECOORD_MIGRATION_DATABASE_URL": database.owner_url})
    assert done.returncode != 0
    assert db.count("partner_organisations", "code = 'ok-code'") == 0


def test_the_application_role_cannot_register_organisations(app_conn):
    with pytest.raises(Exception, match="permission denied"):
        with app_conn.cursor() as cur:
            cur.execute("INSERT INTO partner_organisations (code, name, kind)"
                        " VALUES ('sneaky', 'Sneaky', 'other')")


def test_clinicians_only_see_the_registry_and_partners_only_themselves(service):
    with service.api(token=mint_token(service.env, roles=("reporting",))) as reporting:
        assert reporting.get("/partners").status_code == 403
    with partner_api(service, "any-org") as partner:
        assert partner.get("/partners").status_code == 403
