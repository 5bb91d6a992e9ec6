"""Teams and staff: create/read/update per the contract, conflicts, validation, lists."""

import uuid

import pytest

from carecoord import (
    UUID_RE,
    assert_problem,
    assert_validation,
    create,
    etag_of,
    paginate,
    staff_payload,
    team_payload,
    unique,
)

TEAM_TYPES = (
    "community_mental_health",
    "crisis_home_treatment",
    "inpatient_ward",
    "early_intervention",
    "substance_misuse",
    "other",
)
ROLES = (
    "nurse",
    "social_worker",
    "occupational_therapist",
    "psychologist",
    "psychiatrist",
    "doctor",
    "support_worker",
    "manager",
    "other",
)


@pytest.fixture(scope="module")
def team(api):
    return create(api, "/teams", team_payload())


# == teams ==========================================================================================


def test_create_team_returns_201_location_etag(api, db):
    payload = team_payload(type="crisis_home_treatment")
    r = api.post("/teams", json=payload)
    assert r.status_code == 201, r.text
    body = r.json()
    assert UUID_RE.match(body["id"])
    assert r.headers["Location"] == f"/teams/{body['id']}"
    assert r.headers["ETag"] == etag_of(1)
    assert body["name"] == payload["name"] and body["type"] == payload["type"]
    assert body["version"] == 1 and body["created_at"] and body["updated_at"]
    assert set(body) == {"id", "name", "type", "created_at", "updated_at", "version"}
    assert db.count("teams", "id = %s", (body["id"],)) == 1


@pytest.mark.parametrize("team_type", TEAM_TYPES)
def test_every_team_type_is_accepted(api, team_type):
    assert create(api, "/teams", team_payload(type=team_type))["type"] == team_type


def test_get_team(api, team):
    r = api.get(f"/teams/{team['id']}")
    assert r.status_code == 200
    assert r.headers["ETag"] == etag_of(team["version"])
    assert r.json()["id"] == team["id"]


@pytest.mark.parametrize("team_id", [str(uuid.uuid4()), "nope"])
def test_get_unknown_team_is_404(api, team_id):
    assert_problem(api.get(f"/teams/{team_id}"), 404, "not-found")


@pytest.mark.parametrize(
    "payload,fields",
    [
        ({}, ["/name", "/type"]),
        ({"type": "other"}, ["/name"]),
        ({"name": "Some team"}, ["/type"]),
        ({"name": "", "type": "other"}, ["/name"]),
        ({"name": "x" * 121, "type": "other"}, ["/name"]),
        ({"name": 12, "type": "other"}, ["/name"]),
        ({"name": "A team", "type": "hospital"}, ["/type"]),
        ({"name": "A team", "type": None}, ["/type"]),
        ({"name": "A team", "type": "other", "colour": "red"}, ["/colour"]),
    ],
    ids=["empty", "no-name", "no-type", "empty-name", "long-name", "numeric-name", "bad-type", "null-type", "unknown"],
)
def test_invalid_team_is_422_and_writes_nothing(api, db, payload, fields):
    before = db.count("teams")
    assert_validation(api.post("/teams", json=payload), *fields)
    assert db.count("teams") == before


def test_team_name_of_120_characters_is_accepted(api):
    name = unique("T")[:12] + "é" * 108
    assert len(name) == 120
    assert create(api, "/teams", team_payload(name=name))["name"] == name


def test_duplicate_team_name_is_409_case_insensitively(api, db):
    name = unique("Dup Team ")
    create(api, "/teams", team_payload(name=name))
    before = db.count("teams")
    assert_problem(api.post("/teams", json=team_payload(name=name)), 409, "conflict")
    assert_problem(api.post("/teams", json=team_payload(name=name.upper())), 409, "conflict")
    assert_problem(api.post("/teams", json=team_payload(name=name.lower(), type="other")), 409, "conflict")
    assert db.count("teams") == before


def test_patch_team_if_match_rules(api, db):
    t = create(api, "/teams", team_payload())
    url = f"/teams/{t['id']}"
    assert_problem(api.patch(url, json={"type": "other"}), 428, "precondition-required")
    assert_problem(api.patch(url, json={"type": "other"}, headers={"If-Match": etag_of(2)}), 412, "precondition-failed")
    assert db.scalar("SELECT version FROM teams WHERE id = %s", (t["id"],)) == 1
    r = api.patch(url, json={"type": "other", "name": t["name"] + " renamed"}, headers={"If-Match": etag_of(1)})
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == etag_of(2)
    body = r.json()
    assert body["version"] == 2 and body["type"] == "other" and body["name"] == t["name"] + " renamed"
    assert api.get(url).json() == body


def test_patch_team_to_existing_name_is_409(api, db):
    a = create(api, "/teams", team_payload())
    b = create(api, "/teams", team_payload())
    r = api.patch(f"/teams/{b['id']}", json={"name": a["name"].upper()}, headers={"If-Match": etag_of(1)})
    assert_problem(r, 409, "conflict")
    assert db.one("SELECT name, version FROM teams WHERE id = %s", (b["id"],)) == {"name": b["name"], "version": 1}


@pytest.mark.parametrize(
    "patch,field",
    [
        ({"id": "00000000-0000-4000-8000-000000000000"}, "/id"),
        ({"version": 9}, "/version"),
        ({"created_at": "2020-01-01T00:00:00Z"}, "/created_at"),
        ({"name": None}, "/name"),
        ({"type": "nowhere"}, "/type"),
        ({"name": "x" * 121}, "/name"),
        ({"bogus": 1}, "/bogus"),
    ],
)
def test_patch_team_invalid_is_422(api, db, patch, field):
    t = create(api, "/teams", team_payload())
    assert_validation(api.patch(f"/teams/{t['id']}", json=patch, headers={"If-Match": etag_of(1)}), field)
    assert db.scalar("SELECT version FROM teams WHERE id = %s", (t["id"],)) == 1


def test_patch_unknown_team_is_404(api):
    assert_problem(
        api.patch(f"/teams/{uuid.uuid4()}", json={"type": "other"}, headers={"If-Match": etag_of(1)}), 404, "not-found"
    )


def test_list_teams_filters_by_type_and_pages_in_name_order(api, db):
    # substance_misuse teams are created only here, so the expectation is exact
    stem = unique("Sm")
    for suffix in ("delta", "alpha", "echo", "charlie", "bravo"):
        create(api, "/teams", team_payload(name=f"{stem} {suffix}", type="substance_misuse"))
    expected = [
        str(r["id"])
        for r in db.rows(
            """SELECT id FROM teams WHERE type = 'substance_misuse'
               ORDER BY lower(name) COLLATE "C", id"""
        )
    ]
    for via in ("cursor", "link"):
        items, pages = paginate(api, "/teams", {"type": "substance_misuse"}, via=via, limit=2)
        assert [i["id"] for i in items] == expected
        assert all(i["type"] == "substance_misuse" for i in items)
        assert all(len(p["items"]) == 2 for p in pages[:-1]) and 1 <= len(pages[-1]["items"]) <= 2
    mine = [i["name"] for i in items if i["name"].startswith(stem)]
    assert mine == [f"{stem} {s}" for s in ("alpha", "bravo", "charlie", "delta", "echo")]


def test_list_teams_without_filter_includes_all(api, db):
    items, _ = paginate(api, "/teams", limit=200)
    assert len(items) == db.count("teams")
    assert len({i["id"] for i in items}) == len(items)


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "201"}, {"limit": "abc"}, {"cursor": "!!!"}, {"type": "hospital"}],
    ids=["limit-0", "limit-201", "limit-abc", "bad-cursor", "bad-type"],
)
def test_list_teams_bad_query_is_400(api, params):
    assert_problem(api.get("/teams", params=params), 400, "bad-request")


# == staff ===========================================================================================


def test_create_staff_returns_201_with_defaults(api, db, team):
    payload = staff_payload(team["id"])
    r = api.post("/staff", json=payload)
    assert r.status_code == 201, r.text
    body = r.json()
    assert UUID_RE.match(body["id"])
    assert r.headers["Location"] == f"/staff/{body['id']}"
    assert r.headers["ETag"] == etag_of(1)
    for k, v in payload.items():
        assert body[k] == v, k
    assert body["active"] is True
    assert body["version"] == 1
    assert db.count("staff", "id = %s", (body["id"],)) == 1


@pytest.mark.parametrize("role", ROLES)
def test_every_professional_role_is_accepted(api, team, role):
    assert create(api, "/staff", staff_payload(team["id"], professional_role=role))["professional_role"] == role


def test_create_inactive_staff(api, team):
    assert create(api, "/staff", staff_payload(team["id"], active=False))["active"] is False


def test_get_staff_and_404(api, team):
    s = create(api, "/staff", staff_payload(team["id"]))
    r = api.get(f"/staff/{s['id']}")
    assert r.status_code == 200 and r.json() == s and r.headers["ETag"] == etag_of(1)
    assert_problem(api.get(f"/staff/{uuid.uuid4()}"), 404, "not-found")
    assert_problem(api.get("/staff/not-a-uuid"), 404, "not-found")


@pytest.mark.parametrize("field", ["subject", "name", "professional_role", "team_id", "gender"])
def test_staff_missing_required_field_is_422(api, db, team, field):
    payload = staff_payload(team["id"])
    del payload[field]
    before = db.count("staff")
    assert_validation(api.post("/staff", json=payload), f"/{field}")
    assert db.count("staff") == before


@pytest.mark.parametrize(
    "field,value",
    [
        ("subject", ""),
        ("subject", "s" * 201),
        ("name", ""),
        ("name", "n" * 121),
        ("professional_role", "surgeon"),
        ("gender", "F"),
        ("active", "yes"),
        ("team_id", "not-a-uuid"),
        ("team_id", 5),
        ("unknown_field", 1),
    ],
)
def test_staff_invalid_field_is_422(api, db, team, field, value):
    before = db.count("staff")
    payload = staff_payload(team["id"])
    payload[field] = value
    assert_validation(api.post("/staff", json=payload), f"/{field}")
    assert db.count("staff") == before


def test_staff_with_unknown_team_is_422(api, db):
    before = db.count("staff")
    assert_validation(api.post("/staff", json=staff_payload(str(uuid.uuid4()))), "/team_id")
    assert db.count("staff") == before


def test_duplicate_staff_subject_is_409(api, db, team):
    subject = unique("dup-sub-")
    create(api, "/staff", staff_payload(team["id"], subject=subject))
    before = db.count("staff")
    assert_problem(api.post("/staff", json=staff_payload(team["id"], subject=subject)), 409, "conflict")
    assert db.count("staff") == before


def test_patch_staff_if_match_rules_and_update(api, db, team):
    other = create(api, "/teams", team_payload())
    s = create(api, "/staff", staff_payload(team["id"]))
    url = f"/staff/{s['id']}"
    assert_problem(api.patch(url, json={"active": False}), 428, "precondition-required")
    assert_problem(api.patch(url, json={"active": False}, headers={"If-Match": etag_of(3)}), 412, "precondition-failed")
    assert db.one("SELECT active, version FROM staff WHERE id = %s", (s["id"],)) == {"active": True, "version": 1}
    r = api.patch(
        url,
        json={"active": False, "team_id": other["id"], "professional_role": "manager"},
        headers={"If-Match": etag_of(1)},
    )
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == etag_of(2)
    body = r.json()
    assert body["active"] is False and body["team_id"] == other["id"] and body["professional_role"] == "manager"
    assert body["version"] == 2 and body["subject"] == s["subject"]
    assert api.get(url).json() == body


@pytest.mark.parametrize(
    "patch,field",
    [
        ({"subject": "someone-else"}, "/subject"),
        ({"id": "00000000-0000-4000-8000-000000000000"}, "/id"),
        ({"version": 2}, "/version"),
        ({"team_id": None}, "/team_id"),
        ({"gender": "x"}, "/gender"),
        ({"active": None}, "/active"),
    ],
)
def test_patch_staff_invalid_is_422(api, db, team, patch, field):
    s = create(api, "/staff", staff_payload(team["id"]))
    assert_validation(api.patch(f"/staff/{s['id']}", json=patch, headers={"If-Match": etag_of(1)}), field)
    assert db.one("SELECT subject, version FROM staff WHERE id = %s", (s["id"],)) == {"subject": s["subject"], "version": 1}


def test_patch_staff_to_unknown_team_is_422(api, db, team):
    s = create(api, "/staff", staff_payload(team["id"]))
    r = api.patch(f"/staff/{s['id']}", json={"team_id": str(uuid.uuid4())}, headers={"If-Match": etag_of(1)})
    assert_validation(r, "/team_id")
    assert str(db.scalar("SELECT team_id FROM staff WHERE id = %s", (s["id"],))) == team["id"]


def test_list_staff_filters_and_pages(api, db):
    t = create(api, "/teams", team_payload())
    elsewhere = create(api, "/teams", team_payload())
    stem = unique("Sf")
    for n in ("Eve", "Bob", "Dan", "Amy", "Cat"):
        create(api, "/staff", staff_payload(t["id"], name=f"{stem} {n}"))
    outsider = create(api, "/staff", staff_payload(elsewhere["id"]))
    expected = [
        str(r["id"])
        for r in db.rows(
            'SELECT id FROM staff WHERE team_id = %s ORDER BY lower(name) COLLATE "C", id', (t["id"],)
        )
    ]
    for via in ("cursor", "link"):
        items, pages = paginate(api, "/staff", {"team_id": t["id"]}, via=via, limit=2)
        assert [i["id"] for i in items] == expected
        assert [len(p["items"]) for p in pages] == [2, 2, 1]
    assert [i["name"] for i in items] == [f"{stem} {n}" for n in ("Amy", "Bob", "Cat", "Dan", "Eve")]
    r = api.get("/staff", params={"subject": outsider["subject"]})
    assert r.status_code == 200
    assert [i["id"] for i in r.json()["items"]] == [outsider["id"]]
    assert api.get("/staff", params={"subject": unique("nobody-")}).json()["items"] == []
    assert api.get("/staff", params={"team_id": str(uuid.uuid4())}).json()["items"] == []


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "201"}, {"limit": "x"}, {"cursor": "zzz"}, {"team_id": "not-a-uuid"}],
    ids=["limit-0", "limit-201", "limit-x", "bad-cursor", "bad-team-id"],
)
def test_list_staff_bad_query_is_400(api, params):
    assert_problem(api.get("/staff", params=params), 400, "bad-request")
