"""Service users: create/read/update, validation (nothing written on bad input), filters,
keyset pagination and the audit trail (R-AUD-1)."""

import datetime
import json
import uuid

import psycopg2
import pytest

from carecoord import (
    UUID_RE,
    assert_problem,
    assert_security_headers,
    assert_validation,
    create,
    error_fields,
    etag_of,
    full_service_user_payload,
    mint_token,
    nhs_number,
    nhs_number_check_digit_ten,
    nhs_number_wrong_check_digit,
    paginate,
    service_user_payload,
    staff_payload,
    team_payload,
    unique,
    walk_json_strings,
)

REQUIRED = ("nhs_number", "given_name", "family_name", "date_of_birth", "gender")
TABLES = ("service_users", "audit_events")


@pytest.fixture
def nothing_written(db):
    """Asserts at the end of the test that neither service_users nor audit_events grew."""
    before = db.counts(*TABLES)
    yield
    assert db.counts(*TABLES) == before, "a rejected request wrote rows"


def rid():
    return unique("rq-")


def no_update_events(db, service_user_id):
    """A refused PATCH must not be recorded as a successful update (R-AUD-1 records what happened)."""
    return db.count(
        "audit_events", "service_user_id = %s AND action = 'update' AND outcome = 'success'", (service_user_id,)
    ) == 0


# -- create and read ----------------------------------------------------------------------------


def test_create_returns_201_location_etag_and_resource(api):
    payload = service_user_payload()
    r = api.post("/service-users", json=payload)
    assert r.status_code == 201, r.text
    body = r.json()
    assert UUID_RE.match(body["id"])
    assert r.headers["Location"] == f"/service-users/{body['id']}"
    assert r.headers["ETag"] == etag_of(1)
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    assert_security_headers(r)
    for key, value in payload.items():
        assert body[key] == value, key
    assert body["version"] == 1
    assert body["interpreter_required"] is False
    for optional in ("address", "gp_practice", "preferred_language", "cultural_religious_needs", "communication_needs"):
        assert body[optional] is None, optional
    assert body["created_at"] and body["updated_at"]


def test_create_with_every_optional_field_round_trips(api, db):
    payload = full_service_user_payload()
    body = create(api, "/service-users", payload)
    for key, value in payload.items():
        assert body[key] == value, key
    row = db.one("SELECT * FROM service_users WHERE id = %s", (body["id"],))
    assert row["address"] == payload["address"]
    assert row["gp_practice"] == payload["gp_practice"]
    assert row["interpreter_required"] is True


def test_get_returns_resource_with_etag(api):
    created = create(api, "/service-users", full_service_user_payload())
    r = api.get(f"/service-users/{created['id']}")
    assert r.status_code == 200
    assert r.headers["ETag"] == etag_of(1)
    assert r.json() == created


def test_get_unknown_id_is_404(api):
    assert_problem(api.get(f"/service-users/{uuid.uuid4()}"), 404, "not-found")


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "1234", "00000000-0000-0000-0000-00000000000g", "%27%3B--"])
def test_get_malformed_id_is_404(api, bad_id):
    assert_problem(api.get(f"/service-users/{bad_id}"), 404, "not-found")


def test_names_at_maximum_length_in_characters_are_accepted(api):
    """Lengths are characters, not bytes: 100 two-byte characters are a valid name."""
    body = create(api, "/service-users", service_user_payload(given_name="é" * 100, family_name="Ł" * 99 + "x"))
    assert body["given_name"] == "é" * 100


def test_oldest_and_today_dates_of_birth_are_accepted(api):
    create(api, "/service-users", service_user_payload(date_of_birth="1900-01-01"))
    yesterday = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
    create(api, "/service-users", service_user_payload(date_of_birth=yesterday))


# -- validation: every bad input → 422 naming each field, nothing written --------------------------


@pytest.mark.parametrize("field", REQUIRED)
def test_missing_required_field_is_422(api, nothing_written, field):
    payload = service_user_payload()
    del payload[field]
    assert_validation(api.post("/service-users", json=payload), f"/{field}")


def test_empty_object_lists_every_required_field(api, nothing_written):
    body = assert_validation(api.post("/service-users", json={}), *(f"/{f}" for f in REQUIRED))
    assert len(set(error_fields(body))) >= len(REQUIRED)


@pytest.mark.parametrize(
    "field,value",
    [
        ("nhs_number", 9434765919),
        ("given_name", 5),
        ("family_name", ["Smith"]),
        ("date_of_birth", 19800517),
        ("gender", True),
        ("interpreter_required", "yes"),
        ("address", "1 High Street"),
        ("gp_practice", 5),
        ("preferred_language", {"lang": "cy"}),
        ("cultural_religious_needs", 1),
        ("communication_needs", False),
        ("given_name", None),
        ("gender", None),
        ("interpreter_required", None),
    ],
)
def test_wrong_type_is_422(api, nothing_written, field, value):
    assert_validation(api.post("/service-users", json=service_user_payload(**{field: value})), f"/{field}")


def test_every_offending_field_is_listed(api, nothing_written):
    payload = {
        "nhs_number": "123",
        "given_name": "",
        "family_name": "x" * 101,
        "date_of_birth": "not-a-date",
        "gender": "M",
        "interpreter_required": "no",
        "preferred_language": "",
        "shoe_size": 9,
    }
    body = assert_validation(
        api.post("/service-users", json=payload),
        "/nhs_number",
        "/given_name",
        "/family_name",
        "/date_of_birth",
        "/gender",
        "/interpreter_required",
        "/preferred_language",
        "/shoe_size",
    )
    assert len(error_fields(body)) >= 8


@pytest.mark.parametrize("field", ["favourite_colour", "id", "version", "created_at", "Nhs_Number"])
def test_unknown_or_server_owned_field_on_create_is_422(api, nothing_written, field):
    assert_validation(api.post("/service-users", json=service_user_payload(**{field: "x"})), f"/{field}")


def test_unknown_nested_field_is_422(api, nothing_written):
    address = {"lines": ["1 High Street"], "postcode": "AB1 2CD", "county": "Kent"}
    body = assert_problem(api.post("/service-users", json=service_user_payload(address=address)), 422, "validation-failed")
    assert any(f.startswith("/address") for f in error_fields(body)), body


@pytest.mark.parametrize(
    "bad",
    [
        nhs_number_wrong_check_digit(),
        nhs_number_check_digit_ten(),
        "943476591",  # 9 digits
        "94347659190",  # 11 digits
        "94347659AB",
        "943 476 5919",
        "-943476591",
        "",
        "９４３４７６５９１９",  # full-width digits
    ],
    ids=["wrong-check-digit", "check-value-10", "9-digits", "11-digits", "letters", "spaces", "sign", "empty", "fullwidth"],
)
def test_invalid_nhs_number_is_422(api, nothing_written, bad):
    assert_validation(api.post("/service-users", json=service_user_payload(nhs_number=bad)), "/nhs_number")


@pytest.mark.parametrize(
    "dob",
    [
        (datetime.date.today() + datetime.timedelta(days=2)).isoformat(),
        (datetime.date.today() + datetime.timedelta(days=400)).isoformat(),
        "1899-12-31",
        "1990-02-30",
        "1990-13-01",
        "17/05/1980",
        "1980-5-17",
        "1980-05-17T00:00:00Z",
    ],
    ids=["future", "far-future", "before-1900", "feb-30", "month-13", "uk-format", "unpadded", "datetime"],
)
def test_bad_date_of_birth_is_422(api, nothing_written, dob):
    assert_validation(api.post("/service-users", json=service_user_payload(date_of_birth=dob)), "/date_of_birth")


@pytest.mark.parametrize(
    "field,value",
    [
        ("given_name", "x" * 101),
        ("family_name", "x" * 101),
        ("given_name", ""),
        ("family_name", ""),
        ("preferred_language", "x" * 36),
        ("preferred_language", ""),
        ("cultural_religious_needs", "x" * 2001),
        ("communication_needs", "x" * 2001),
    ],
)
def test_string_out_of_bounds_is_422(api, nothing_written, field, value):
    assert_validation(api.post("/service-users", json=service_user_payload(**{field: value})), f"/{field}")


@pytest.mark.parametrize(
    "address,pointer",
    [
        ({"lines": [], "postcode": "AB1 2CD"}, "/address/lines"),
        ({"lines": ["x"] * 6, "postcode": "AB1 2CD"}, "/address/lines"),
        ({"lines": ["x" * 101], "postcode": "AB1 2CD"}, "/address/lines/0"),
        ({"lines": ["ok", ""], "postcode": "AB1 2CD"}, "/address/lines/1"),
        ({"lines": ["ok", 7], "postcode": "AB1 2CD"}, "/address/lines/1"),
        ({"lines": ["ok"], "postcode": "A"}, "/address/postcode"),
        ({"lines": ["ok"], "postcode": "AB1 2CD EFGH"}, "/address/postcode"),
        ({"lines": ["ok"]}, "/address/postcode"),
        ({"postcode": "AB1 2CD"}, "/address/lines"),
    ],
)
def test_bad_address_is_422_with_nested_pointer(api, nothing_written, address, pointer):
    assert_validation(api.post("/service-users", json=service_user_payload(address=address)), pointer)


@pytest.mark.parametrize(
    "gp,pointer",
    [
        ({"ods_code": "a81001", "name": "Surgery"}, "/gp_practice/ods_code"),
        ({"ods_code": "A8", "name": "Surgery"}, "/gp_practice/ods_code"),
        ({"ods_code": "A8100112345", "name": "Surgery"}, "/gp_practice/ods_code"),
        ({"ods_code": "A81-01", "name": "Surgery"}, "/gp_practice/ods_code"),
        ({"ods_code": "A81001", "name": "x" * 121}, "/gp_practice/name"),
        ({"ods_code": "A81001", "name": ""}, "/gp_practice/name"),
        ({"name": "Surgery"}, "/gp_practice/ods_code"),
    ],
)
def test_bad_gp_practice_is_422_with_nested_pointer(api, nothing_written, gp, pointer):
    assert_validation(api.post("/service-users", json=service_user_payload(gp_practice=gp)), pointer)


@pytest.mark.parametrize("gender", ["M", "Male", "FEMALE", "", "x"])
def test_bad_gender_enum_is_422(api, nothing_written, gender):
    assert_validation(api.post("/service-users", json=service_user_payload(gender=gender)), "/gender")


def test_duplicate_nhs_number_is_409_and_writes_nothing(api, db):
    number = nhs_number()
    create(api, "/service-users", service_user_payload(nhs_number=number))
    before = db.counts(*TABLES)
    r = api.post("/service-users", json=service_user_payload(nhs_number=number))
    assert_problem(r, 409, "conflict")
    assert db.count("service_users", "nhs_number = %s", (number,)) == 1
    assert db.counts(*TABLES) == before


# -- SQL metacharacters -------------------------------------------------------------------------


def test_sql_metacharacters_in_names_are_stored_verbatim(api, db):
    family = "O'Brien'; DROP TABLE service_users;--"
    given = "100%_\\x\"y"
    created = create(api, "/service-users", service_user_payload(family_name=family, given_name=given))
    assert created["family_name"] == family and created["given_name"] == given
    fetched = api.get(f"/service-users/{created['id']}").json()
    assert fetched["family_name"] == family and fetched["given_name"] == given
    row = db.one("SELECT family_name, given_name FROM service_users WHERE id = %s", (created["id"],))
    assert row == {"family_name": family, "given_name": given}
    assert db.scalar("SELECT to_regclass('public.service_users') IS NOT NULL")
    listed = api.get("/service-users", params={"name": "O'Brien'; DROP"}).json()["items"]
    assert created["id"] in [i["id"] for i in listed]


def test_name_filter_treats_like_wildcards_literally(api):
    stem = unique("Wc")
    names = {
        "percent": stem + "%a",
        "underscore": stem + "_a",
        "plain": stem + "Xa",
        "backslash": stem + "\\a",
    }
    ids = {k: create(api, "/service-users", service_user_payload(family_name=v))["id"] for k, v in names.items()}

    def found(prefix):
        r = api.get("/service-users", params={"name": prefix, "limit": 200})
        assert r.status_code == 200, r.text
        return {i["id"] for i in r.json()["items"]}

    assert found(stem + "%") == {ids["percent"]}
    assert found(stem + "_") == {ids["underscore"]}
    assert found(stem + "\\") == {ids["backslash"]}
    assert found(stem) == set(ids.values())
    assert found("%" + stem) == set()


# -- PATCH ------------------------------------------------------------------------------------------


def test_patch_without_if_match_is_428(api, db):
    created = create(api, "/service-users", service_user_payload())
    r = api.patch(f"/service-users/{created['id']}", json={"given_name": "Changed"})
    assert_problem(r, 428, "precondition-required")
    assert db.scalar("SELECT given_name FROM service_users WHERE id = %s", (created["id"],)) == "Alex"
    assert no_update_events(db, created["id"])


@pytest.mark.parametrize("stale", ['"0"', '"2"', '"999"'])
def test_patch_with_stale_if_match_is_412(api, db, stale):
    created = create(api, "/service-users", service_user_payload())
    r = api.patch(f"/service-users/{created['id']}", json={"given_name": "Changed"}, headers={"If-Match": stale})
    assert_problem(r, 412, "precondition-failed")
    row = db.one("SELECT given_name, version FROM service_users WHERE id = %s", (created["id"],))
    assert row == {"given_name": "Alex", "version": 1}
    assert no_update_events(db, created["id"])


def test_patch_with_current_etag_updates_and_bumps_version(api):
    created = create(api, "/service-users", service_user_payload())
    url = f"/service-users/{created['id']}"
    r = api.patch(url, json={"given_name": "Changed", "interpreter_required": True}, headers={"If-Match": etag_of(1)})
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == etag_of(2)
    body = r.json()
    assert body["version"] == 2
    assert body["given_name"] == "Changed" and body["interpreter_required"] is True
    assert body["family_name"] == created["family_name"]
    assert body["created_at"] == created["created_at"]
    got = api.get(url)
    assert got.headers["ETag"] == etag_of(2) and got.json() == body
    # the old ETag is now stale
    assert_problem(api.patch(url, json={"given_name": "Again"}, headers={"If-Match": etag_of(1)}), 412)
    r3 = api.patch(url, json={"given_name": "Again"}, headers={"If-Match": etag_of(2)})
    assert r3.status_code == 200 and r3.json()["version"] == 3


def test_patch_accepts_merge_patch_content_type(api):
    created = create(api, "/service-users", service_user_payload())
    r = api.patch(
        f"/service-users/{created['id']}",
        data=json.dumps({"family_name": created["family_name"] + "b"}),
        headers={"If-Match": etag_of(1), "Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["family_name"] == created["family_name"] + "b"


def test_patch_null_clears_optional_fields(api, db):
    created = create(api, "/service-users", full_service_user_payload())
    r = api.patch(
        f"/service-users/{created['id']}",
        json={"preferred_language": None, "address": None, "gp_practice": None, "communication_needs": None},
        headers={"If-Match": etag_of(1)},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    for field in ("preferred_language", "address", "gp_practice", "communication_needs"):
        assert body[field] is None, field
    assert body["cultural_religious_needs"] == "Halal diet"  # untouched
    row = db.one("SELECT preferred_language, address, gp_practice FROM service_users WHERE id = %s", (created["id"],))
    assert row == {"preferred_language": None, "address": None, "gp_practice": None}


def test_patch_merges_nested_objects(api):
    """RFC 7396: a nested object in the patch is merged into the stored one."""
    created = create(api, "/service-users", full_service_user_payload())
    r = api.patch(
        f"/service-users/{created['id']}",
        json={"address": {"postcode": "ZZ9 9ZZ"}},
        headers={"If-Match": etag_of(1)},
    )
    assert r.status_code == 200, r.text
    assert r.json()["address"] == {"lines": created["address"]["lines"], "postcode": "ZZ9 9ZZ"}


@pytest.mark.parametrize("field", ["given_name", "family_name", "date_of_birth", "gender"])
def test_patch_null_on_required_field_is_422(api, db, field):
    created = create(api, "/service-users", service_user_payload())
    r = api.patch(f"/service-users/{created['id']}", json={field: None}, headers={"If-Match": etag_of(1)})
    assert_validation(r, f"/{field}")
    assert db.scalar("SELECT version FROM service_users WHERE id = %s", (created["id"],)) == 1


@pytest.mark.parametrize(
    "field,value",
    [
        ("nhs_number", None),  # replaced below with another valid number
        ("id", str(uuid.uuid4())),
        ("version", 7),
        ("created_at", "2020-01-01T00:00:00Z"),
        ("updated_at", "2020-01-01T00:00:00Z"),
    ],
)
def test_patch_immutable_field_is_422(api, db, field, value):
    created = create(api, "/service-users", service_user_payload())
    if field == "nhs_number":
        value = nhs_number()
    r = api.patch(f"/service-users/{created['id']}", json={field: value}, headers={"If-Match": etag_of(1)})
    assert_validation(r, f"/{field}")
    row = db.one("SELECT nhs_number, version FROM service_users WHERE id = %s", (created["id"],))
    assert row == {"nhs_number": created["nhs_number"], "version": 1}
    assert no_update_events(db, created["id"])


def test_patch_invalid_values_are_422_and_change_nothing(api, db):
    created = create(api, "/service-users", service_user_payload())
    before = db.count("audit_events")
    r = api.patch(
        f"/service-users/{created['id']}",
        json={"given_name": "x" * 101, "gender": "M", "unknown": 1},
        headers={"If-Match": etag_of(1)},
    )
    assert_validation(r, "/given_name", "/gender", "/unknown")
    assert db.scalar("SELECT version FROM service_users WHERE id = %s", (created["id"],)) == 1
    assert db.count("audit_events") == before


def test_patch_unknown_id_is_404(api):
    r = api.patch(f"/service-users/{uuid.uuid4()}", json={"given_name": "X"}, headers={"If-Match": etag_of(1)})
    assert_problem(r, 404, "not-found")


def test_patch_with_non_json_content_type_is_415(api):
    created = create(api, "/service-users", service_user_payload())
    r = api.patch(
        f"/service-users/{created['id']}",
        data=b'{"given_name":"X"}',
        headers={"If-Match": etag_of(1), "Content-Type": "text/plain"},
    )
    assert_problem(r, 415, "unsupported-media-type")


# -- filters --------------------------------------------------------------------------------------------


def list_ids(api, **params):
    params.setdefault("limit", 200)
    r = api.get("/service-users", params=params)
    assert r.status_code == 200, r.text
    return [i["id"] for i in r.json()["items"]]


def test_filter_by_nhs_number(api):
    a = create(api, "/service-users", service_user_payload())
    create(api, "/service-users", service_user_payload())
    assert list_ids(api, nhs_number=a["nhs_number"]) == [a["id"]]
    assert list_ids(api, nhs_number=nhs_number()) == []


def test_filter_by_name_prefix_is_case_insensitive(api):
    stem = unique("Pfx")
    a = create(api, "/service-users", service_user_payload(family_name=stem + "son"))
    b = create(api, "/service-users", service_user_payload(family_name=stem.upper() + "DOTTIR"))
    create(api, "/service-users", service_user_payload(family_name="Other" + stem))
    assert set(list_ids(api, name=stem.lower())) == {a["id"], b["id"]}
    assert set(list_ids(api, name=stem.upper())) == {a["id"], b["id"]}
    assert list_ids(api, name=stem + "so") == [a["id"]]


def team_manager(api, service, team_id):
    """A session for a manager whose staff row is in the team: only people in intake and people
    with an open episode in their own team are listed for a manager (the access policy)."""
    sub = unique("mgr-")
    create(api, "/staff", staff_payload(team_id, subject=sub, professional_role="manager"))
    return service.api(token=mint_token(service.env, sub=sub, roles=("manager",)))


def test_filter_by_team_uses_open_episodes_only(api, db, service):
    team = create(api, "/teams", team_payload())
    other_team = create(api, "/teams", team_payload())
    open_here = create(api, "/service-users", service_user_payload())
    closed_here = create(api, "/service-users", service_user_payload())
    open_elsewhere = create(api, "/service-users", service_user_payload())
    create(api, "/service-users", service_user_payload())  # no episode at all
    db.execute("INSERT INTO episodes (service_user_id, team_id) VALUES (%s, %s)", (open_here["id"], team["id"]))
    db.execute(
        "INSERT INTO episodes (service_user_id, team_id, status, closed_at) VALUES (%s, %s, 'closed', now())",
        (closed_here["id"], team["id"]),
    )
    db.execute("INSERT INTO episodes (service_user_id, team_id) VALUES (%s, %s)", (open_elsewhere["id"], other_team["id"]))
    with team_manager(api, service, team["id"]) as here, team_manager(api, service, other_team["id"]) as there:
        assert list_ids(here, team_id=team["id"]) == [open_here["id"]]
        assert list_ids(there, team_id=other_team["id"]) == [open_elsewhere["id"]]
        assert list_ids(here, team_id=str(uuid.uuid4())) == []
        # combined with the name filter
        assert list_ids(here, team_id=team["id"], name=open_here["family_name"]) == [open_here["id"]]
        assert list_ids(here, team_id=team["id"], name=closed_here["family_name"]) == []


def test_a_person_with_two_open_episodes_is_listed_once(api, db, service):
    team = create(api, "/teams", team_payload())
    other_team = create(api, "/teams", team_payload())
    su = create(api, "/service-users", service_user_payload())
    for team_id in (team["id"], other_team["id"]):
        db.execute("INSERT INTO episodes (service_user_id, team_id) VALUES (%s, %s)", (su["id"], team_id))
    # a second open episode with the same team is refused by the database
    with pytest.raises(psycopg2.errors.UniqueViolation):
        db.execute("INSERT INTO episodes (service_user_id, team_id) VALUES (%s, %s)", (su["id"], team["id"]))
    with team_manager(api, service, team["id"]) as manager:
        assert list_ids(manager, team_id=team["id"]) == [su["id"]]
        assert list_ids(manager, name=su["family_name"]) == [su["id"]]


@pytest.mark.parametrize("param,value", [("team_id", "not-a-uuid"), ("team_id", "123")])
def test_malformed_filter_is_400(api, param, value):
    assert_problem(api.get("/service-users", params={param: value}), 400, "bad-request")


# -- keyset pagination ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paged_people(api, db):
    """Seven people sharing a unique family-name prefix (two with identical names, so that the
    id tie-break matters); returns (prefix, ids in the contract's order)."""
    stem = unique("Pg")
    names = [("Able", "Zoe"), ("Able", "Adam"), ("Baker", "Cy"), ("Baker", "Cy"), ("Cole", "Bo"), ("Dunn", "Al"), ("Eve", "Ed")]
    for family, given in names:
        create(api, "/service-users", service_user_payload(family_name=stem + family, given_name=given))
    ordered = [
        str(r["id"])
        for r in db.rows(
            """SELECT id FROM service_users WHERE family_name LIKE %s
               ORDER BY lower(family_name) COLLATE "C", lower(given_name) COLLATE "C", id""",
            (stem + "%",),
        )
    ]
    assert len(ordered) == len(names)
    return stem, ordered


@pytest.mark.parametrize("via", ["cursor", "link"])
def test_keyset_pagination_visits_every_record_once_in_order(api, paged_people, via):
    stem, expected = paged_people
    items, pages = paginate(api, "/service-users", {"name": stem}, via=via, limit=2)
    ids = [i["id"] for i in items]
    assert len(ids) == len(set(ids)), "duplicates across pages"
    assert ids == expected
    assert [len(p["items"]) for p in pages] == [2, 2, 2, 1]
    assert pages[-1]["next_cursor"] is None


def test_pagination_exact_multiple_ends_with_null_cursor(api, paged_people):
    stem, expected = paged_people
    items, pages = paginate(api, "/service-users", {"name": stem}, limit=7)
    assert [i["id"] for i in items] == expected
    assert pages[-1]["next_cursor"] is None
    assert sum(len(p["items"]) for p in pages) == 7


def test_pagination_is_stable_when_records_are_added_behind_the_cursor(api):
    stem = unique("St")
    for family in ("Bb", "Cc", "Dd", "Ee"):
        create(api, "/service-users", service_user_payload(family_name=stem + family))
    r = api.get("/service-users", params={"name": stem, "limit": 2})
    first = [i["family_name"] for i in r.json()["items"]]
    assert first == [stem + "Bb", stem + "Cc"]
    # a record sorting before the cursor must not shift or repeat the next page
    create(api, "/service-users", service_user_payload(family_name=stem + "Aa"))
    r2 = api.get("/service-users", params={"name": stem, "limit": 2, "cursor": r.json()["next_cursor"]})
    assert [i["family_name"] for i in r2.json()["items"]] == [stem + "Dd", stem + "Ee"]
    assert r2.json()["next_cursor"] is None


def test_default_limit_is_50(api):
    stem = unique("Dl")
    for i in range(51):
        create(api, "/service-users", service_user_payload(family_name=f"{stem}{i:03d}"))
    r = api.get("/service-users", params={"name": stem})
    body = r.json()
    assert len(body["items"]) == 50
    assert body["next_cursor"] is not None
    r2 = api.get("/service-users", params={"name": stem, "cursor": body["next_cursor"]})
    assert len(r2.json()["items"]) == 1 and r2.json()["next_cursor"] is None


@pytest.mark.parametrize("limit", ["0", "201", "abc", "-1", "1.5", "", "2x"])
def test_bad_limit_is_400(api, limit):
    assert_problem(api.get("/service-users", params={"limit": limit}), 400, "bad-request")


@pytest.mark.parametrize("limit", ["1", "200"])
def test_limit_bounds_are_accepted(api, limit):
    r = api.get("/service-users", params={"limit": limit})
    assert r.status_code == 200
    assert len(r.json()["items"]) <= int(limit)


def _a_real_cursor(api):
    stem = unique("Cu")
    for g in ("A", "B", "C"):
        create(api, "/service-users", service_user_payload(family_name=stem, given_name=g))
    cursor = api.get("/service-users", params={"name": stem, "limit": 1}).json()["next_cursor"]
    assert cursor
    return stem, cursor


@pytest.mark.parametrize("mangle", ["truncate", "append", "garbage", "empty-json", "sql"])
def test_malformed_cursor_is_400(api, mangle):
    stem, cursor = _a_real_cursor(api)
    bad = {
        "truncate": cursor[: len(cursor) // 2],
        "append": cursor + "!!",
        "garbage": "AAAA",
        "empty-json": "e30",  # base64url of {}
        "sql": "' OR 1=1 --",
    }[mangle]
    assert_problem(api.get("/service-users", params={"name": stem, "limit": 1, "cursor": bad}), 400, "bad-request")


def test_tampered_cursor_is_400(api):
    """Changing any one character of a cursor must be detected, not silently reinterpreted."""
    stem, cursor = _a_real_cursor(api)
    statuses = []
    # the last characters may only carry base64 padding bits, so they are left alone
    for pos in range(len(cursor) - 2):
        ch = cursor[pos]
        repl = "A" if ch != "A" else "B"
        bad = cursor[:pos] + repl + cursor[pos + 1 :]
        statuses.append(api.get("/service-users", params={"name": stem, "limit": 1, "cursor": bad}).status_code)
    accepted = [(i, s) for i, s in enumerate(statuses) if s != 400]
    assert not accepted, f"cursor with one character changed at positions {accepted} was not rejected"


# -- audit trail (R-AUD-1) --------------------------------------------------------------------------


def audit_rows(db, request_id):
    return db.rows("SELECT * FROM audit_events WHERE request_id = %s ORDER BY id", (request_id,))


def test_create_writes_one_audit_event_R_AUD_1(api, db):
    request_id = rid()
    r = api.post("/service-users", json=service_user_payload(), headers={"X-Request-Id": request_id})
    assert r.status_code == 201 and r.headers["X-Request-Id"] == request_id
    su = r.json()
    rows = audit_rows(db, request_id)
    assert len(rows) == 1, rows
    ev = rows[0]
    assert ev["action"] == "create"
    assert ev["resource_type"] == "service_user"
    assert str(ev["service_user_id"]) == su["id"]
    assert ev["outcome"] == "success"
    assert ev["actor"]


def test_update_writes_one_audit_event_R_AUD_1(api, db):
    su = create(api, "/service-users", service_user_payload())
    request_id = rid()
    r = api.patch(
        f"/service-users/{su['id']}",
        json={"given_name": "Audited"},
        headers={"If-Match": etag_of(1), "X-Request-Id": request_id},
    )
    assert r.status_code == 200
    rows = audit_rows(db, request_id)
    assert len(rows) == 1, rows
    assert rows[0]["action"] == "update"
    assert rows[0]["resource_type"] == "service_user"
    assert str(rows[0]["service_user_id"]) == su["id"]
    assert rows[0]["outcome"] == "success"


def test_read_writes_one_audit_event_R_AUD_1(api, db):
    su = create(api, "/service-users", service_user_payload())
    for _ in range(2):  # every read, not only the first
        request_id = rid()
        assert api.get(f"/service-users/{su['id']}", headers={"X-Request-Id": request_id}).status_code == 200
        rows = audit_rows(db, request_id)
        assert len(rows) == 1, rows
        assert rows[0]["action"] == "read"
        assert rows[0]["resource_type"] == "service_user"
        assert str(rows[0]["service_user_id"]) == su["id"]
    assert db.count("audit_events", "service_user_id = %s AND action = 'read'", (su["id"],)) == 2


def test_list_writes_one_read_event_naming_returned_ids_R_AUD_1(api, db):
    stem = unique("Au")
    people = [create(api, "/service-users", service_user_payload(family_name=stem + s)) for s in ("a", "b", "c")]
    request_id = rid()
    r = api.get("/service-users", params={"name": stem}, headers={"X-Request-Id": request_id})
    returned = {i["id"] for i in r.json()["items"]}
    assert returned == {p["id"] for p in people}
    rows = audit_rows(db, request_id)
    assert len(rows) == 1, rows
    assert rows[0]["action"] == "read"
    assert rows[0]["resource_type"] == "service_user"
    assert rows[0]["details"] is not None
    mentioned = set(walk_json_strings(rows[0]["details"]))
    assert returned <= mentioned, f"audit details {rows[0]['details']} do not list every returned id"


def test_rejected_create_and_stale_patch_leave_no_success_event_R_AUD_1(api, db):
    su = create(api, "/service-users", service_user_payload())
    request_id = rid()
    r = api.patch(
        f"/service-users/{su['id']}",
        json={"given_name": "Nope"},
        headers={"If-Match": etag_of(5), "X-Request-Id": request_id},
    )
    assert r.status_code == 412
    assert [e for e in audit_rows(db, request_id) if e["outcome"] == "success"] == []
