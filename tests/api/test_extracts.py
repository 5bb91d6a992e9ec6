"""Extracts for reporting tools (GET /extracts/{table}): rows shaped like MHSDS tables as NDJSON
or CSV, `since` for incremental loads, pseudonymised person ids and never a name or NHS number,
one committed `export` audit event per extract (R-AUD-1), and problem+json refusals."""

import csv
import datetime
import hashlib
import hmac
import io
import json
import os
from types import SimpleNamespace

import psycopg2
import pytest

from care_setup import new_person, new_team
from carecoord import assert_problem, mint_token

TABLES = ("referrals", "care-coordinator-assignments", "care-plans", "care-plan-agreements",
          "cpa-episodes", "cpa-reviews", "discharge-follow-ups")


@pytest.fixture(scope="module")
def key_file(test_env):
    return os.path.join(test_env.keys_dir, "pseudonym.key")


@pytest.fixture(scope="module")
def service(service_factory, key_file):
    return service_factory.start(env={"CARECOORD_PSEUDONYM_KEY_FILE": key_file})


@pytest.fixture(scope="module")
def reporting(service):
    with service.api(token=mint_token(service.env, sub="reporting-tool", roles=("reporting",))) as s:
        yield s


@pytest.fixture(scope="module")
def pseudonym(key_file):
    with open(key_file, "rb") as f:
        key = f.read().rstrip(b"\r\n")
    return lambda person_id: hmac.new(key, person_id.encode(), hashlib.sha256).hexdigest()


def insert(db, sql, params=()):
    return str(db.scalar(sql + " RETURNING id", params))


@pytest.fixture(scope="module")
def world(api, db):
    """A person referred, accepted into an episode on CPA, stepped down and up again, with a
    co-ordinator, a care plan agreed, a CPA review held and three hospital discharges; and a
    declined referral last changed long ago. Every time is known."""
    team = new_team(api)
    person = new_person(api)
    pid, tid = person["id"], team["id"]
    staff = insert(db, "INSERT INTO staff (subject, name, professional_role, team_id, gender)"
                       " VALUES ('extract-nurse', 'Nurse Extract', 'nurse', %s, 'female')", (tid,))
    episode = insert(db, "INSERT INTO episodes (service_user_id, team_id, care_level, opened_at)"
                         " VALUES (%s, %s, 'cpa', '2026-03-11 10:00:00+00')", (pid, tid))
    referral = insert(db, """
        INSERT INTO referrals (service_user_id, source_type, reason, urgency, received_at,
          response_due_at, status, triaged_urgency, responding_team_id, decided_at, episode_id,
          created_by, updated_at)
        VALUES (%s, 'gp', 'Low mood, Alex says "help"', 'routine', '2026-03-10 09:15:00+00',
          '2026-04-07 09:15:00+00', 'accepted', 'urgent', %s, '2026-03-11 10:00:00+00', %s,
          'gp-system', '2026-03-11 10:00:00+00')""", (pid, tid, episode))
    db.execute("UPDATE episodes SET referral_id = %s WHERE id = %s", (referral, episode))
    declined = insert(db, """
        INSERT INTO referrals (service_user_id, source_type, reason, urgency, received_at,
          response_due_at, status, triaged_urgency, responding_team_id, decision_reason,
          decided_at, created_by, updated_at)
        VALUES (%s, 'self', 'Worried', 'routine', '2025-12-01 12:00:00+00', '2025-12-29 12:00:00+00',
          'declined', 'routine', %s, 'Not our service', '2025-12-02 12:00:00+00', 'self',
          '2025-12-02 12:00:00+00')""", (pid, tid))
    levels = [insert(db, "INSERT INTO episode_care_level_changes (episode_id, from_level, to_level,"
                         " reason, changed_at, changed_by) VALUES (%s, %s, %s, 'r', %s, 'x')",
                     (episode, frm, to, at))
              for frm, to, at in ((None, "cpa", "2026-03-11 10:00:00+00"),
                                  ("cpa", "non_cpa", "2026-06-01 12:00:00+00"),
                                  ("non_cpa", "cpa", "2026-07-01 08:00:00+00"))]
    assignment = insert(db, """
        INSERT INTO allocations (episode_id, role, holder_staff_id, started_at, ended_at,
          end_reason, preferred_coordinator_gender, preferences_met, updated_at)
        VALUES (%s, 'care_coordinator', %s, '2026-03-12 09:00:00+00', '2026-05-01 09:00:00+00',
          'Moved team', 'no_preference', true, '2026-05-01 09:00:00+00')""", (episode, staff))
    insert(db, "INSERT INTO allocations (episode_id, role, holder_staff_id, started_at,"
               " preferred_coordinator_gender, preferences_met)"
               " VALUES (%s, 'lead_professional', %s, '2026-06-01 12:00:00+00', 'no_preference', true)",
           (episode, staff))
    plan = insert(db, """
        INSERT INTO care_plans (episode_id, status, plan_version, content, created_at,
          activated_at, updated_at)
        VALUES (%s, 'active', 2, '{"needs": "Alex needs a flat"}', '2026-03-20 10:00:00+00',
          '2026-03-25 10:00:00+00', '2026-03-26 15:00:00+00')""", (episode,))
    agreement = insert(db, """
        INSERT INTO care_plan_agreements (care_plan_id, plan_version, agreement, recorded_at,
          recorded_by)
        VALUES (%s, 2, '{"agreed": true, "agreed_on": "2026-03-26", "how": "signed",
          "carer_involvement": "Carer Sam Smith attended"}', '2026-03-26 15:00:00+00', 'x')""",
                       (plan,))
    # Text that needs CSV quoting (the service itself only stores signed or verbal).
    odd = insert(db, """
        INSERT INTO care_plan_agreements (care_plan_id, plan_version, agreement, recorded_at,
          recorded_by)
        VALUES (%s, 2, '{"agreed": false, "how": "by \\"phone\\", later",
          "reason_not_agreed": "Alex was away"}', '2026-03-27 15:00:00+00', 'x')""", (plan,))
    review = insert(db, """
        INSERT INTO reviews (episode_id, type, status, due_on, held_on, attendees, chaired_by,
          summary, outcome, care_level_before, care_level_after, next_review_due,
          held_recorded_by, updated_at)
        VALUES (%s, 'scheduled', 'held', '2026-04-15', '2026-04-15', '["Alex"]',
          '{"name": "Dr Who"}', 'Alex is doing well', 'continue', 'cpa', 'cpa', '2026-10-15',
          'x', '2026-04-15 17:00:00+00')""", (episode,))
    discharges = {}
    for name, discharged, contacts, completed in (
            ("in_time", "2026-05-10", [("2026-05-12", False), ("2026-05-15", True)],
             "2026-05-10 12:00:00+00"),
            ("late", "2026-05-01", [("2026-05-20", True)], "2026-05-01 12:00:00+00"),
            ("pending", "2026-05-20", [], "2026-05-20 12:00:00+00")):
        transfer = insert(db, """
            INSERT INTO transfers (episode_id, type, status, reason, details, handover,
              proposed_by, proposed_at, decided_at, completed_at, updated_at)
            VALUES (%s, 'hospital_discharge', 'completed', 'Discharged home',
              jsonb_build_object('discharged_on', %s::text), '{}', 'x', %s, %s, %s, %s)""",
                          (episode, discharged, completed, completed, completed, completed))
        for on, face in contacts:
            db.execute("INSERT INTO transfer_contacts (transfer_id, kind, contact_on, face_to_face,"
                       " by_name, notes, recorded_at, recorded_by) VALUES (%s, 'follow_up', %s, %s,"
                       " 'Nurse Extract', 'Alex seen at home',"
                       " (%s::date + time '16:00') AT TIME ZONE 'UTC', 'x')",
                       (transfer, on, face, on))
        discharges[name] = transfer
    return SimpleNamespace(person=person, team=tid, staff=staff, episode=episode,
                           referral=referral, declined=declined, levels=levels,
                           assignment=assignment, plan=plan, agreement=agreement, odd=odd,
                           review=review, discharges=discharges)


def ndjson(response):
    assert response.status_code == 200, response.text[:500]
    assert response.headers["Content-Type"] == "application/x-ndjson"
    assert response.text == "" or response.text.endswith("\n")
    return [json.loads(line) for line in response.text.splitlines()]


def extract(session, table, **params):
    return ndjson(session.get(f"/extracts/{table}", params=params))


def rows_of(rows, key, *ids):
    found = {r[key]: r for r in rows if r[key] in ids}
    return [found.get(i) for i in ids]


def test_referrals_follow_mhs101(reporting, world, pseudonym):
    rows = extract(reporting, "referrals")
    accepted, declined = rows_of(rows, "ServiceRequestId", world.referral, world.declined)
    person = pseudonym(world.person["id"])
    assert accepted == {
        "ServiceRequestId": world.referral, "Person_ID": person, "CareProfTeamLocalId": world.team,
        "ReferralRequestReceivedDate": "2026-03-10", "ReferralRequestReceivedTime": "09:15:00",
        "SourceOfReferralMH": "gp", "ClinRespPriorityType": "urgent", "ReferralStatus": "accepted",
        "ReferralDecisionDate": "2026-03-11", "ServDischDate": None,
        "LastModified": "2026-03-11T10:00:00.000000Z"}
    assert declined["ServDischDate"] == "2025-12-02" and declined["Person_ID"] == person
    # In order of last change.
    assert [r["LastModified"] for r in rows] == sorted(r["LastModified"] for r in rows)


def test_care_coordinator_assignments_follow_mhs006(reporting, world, pseudonym):
    rows = extract(reporting, "care-coordinator-assignments")
    assert [r for r in rows if r["EpisodeId"] == world.episode] == [{
        "CareCoordAssignmentId": world.assignment, "Person_ID": pseudonym(world.person["id"]),
        "ServiceRequestId": world.referral, "EpisodeId": world.episode,
        "CareProfTeamLocalId": world.team, "CareProfLocalId": world.staff,
        "CareCoordHeldExternally": False, "StartDateAssCareCoord": "2026-03-12",
        "EndDateAssCareCoord": "2026-05-01", "LastModified": "2026-05-01T09:00:00.000000Z"}]


def test_care_plans_and_agreements_follow_mhs008_and_mhs009(reporting, world, pseudonym):
    person = pseudonym(world.person["id"])
    [plan] = rows_of(extract(reporting, "care-plans"), "CarePlanID", world.plan)
    assert plan == {
        "CarePlanID": world.plan, "Person_ID": person, "ServiceRequestId": world.referral,
        "EpisodeId": world.episode, "CareProfTeamLocalId": world.team, "CarePlanStatus": "active",
        "CarePlanVersion": 2, "CarePlanCreatDate": "2026-03-20",
        "CarePlanImplementDate": "2026-03-25", "CarePlanSupersededDate": None,
        "LastModified": "2026-03-26T15:00:00.000000Z"}
    agreed, odd = rows_of(extract(reporting, "care-plan-agreements"), "CarePlanAgreementId",
                          world.agreement, world.odd)
    assert agreed == {
        "CarePlanAgreementId": world.agreement, "CarePlanID": world.plan, "Person_ID": person,
        "CareProfTeamLocalId": world.team, "CarePlanVersion": 2, "CarePlanAgreed": True,
        "CarePlanContentAgreedBy": "service_user", "CarePlanContentAgreedDate": "2026-03-26",
        "CarePlanAgreementMethod": "signed", "CarePlanAgreementRecordedDate": "2026-03-26",
        "LastModified": "2026-03-26T15:00:00.000000Z"}
    assert odd["CarePlanAgreed"] is False and odd["CarePlanContentAgreedBy"] is None


def test_cpa_episodes_are_the_periods_on_cpa_mhs701(reporting, world, pseudonym):
    first, second = rows_of(extract(reporting, "cpa-episodes"), "CPAEpisodeId", world.levels[0],
                            world.levels[2])
    common = {"Person_ID": pseudonym(world.person["id"]), "ServiceRequestId": world.referral,
              "EpisodeId": world.episode, "CareProfTeamLocalId": world.team}
    assert first == {"CPAEpisodeId": world.levels[0], **common, "StartDateCPA": "2026-03-11",
                     "EndDateCPA": "2026-06-01", "CPAEndReason": "step_down",
                     "LastModified": "2026-06-01T12:00:00.000000Z"}
    assert second == {"CPAEpisodeId": world.levels[2], **common, "StartDateCPA": "2026-07-01",
                      "EndDateCPA": None, "CPAEndReason": None,
                      "LastModified": "2026-07-01T08:00:00.000000Z"}


def test_cpa_reviews_fall_in_their_cpa_period_mhs702(reporting, world, pseudonym):
    [review] = rows_of(extract(reporting, "cpa-reviews"), "CPAReviewId", world.review)
    assert review == {
        "CPAReviewId": world.review, "CPAEpisodeId": world.levels[0],
        "Person_ID": pseudonym(world.person["id"]), "ServiceRequestId": world.referral,
        "EpisodeId": world.episode, "CareProfTeamLocalId": world.team,
        "CPAReviewDate": "2026-04-15", "CPAReviewType": "scheduled", "CPAReviewOutcome": "continue",
        "CareLevelAfterReview": "cpa", "NextCPAReviewDueDate": "2026-10-15",
        "LastModified": "2026-04-15T17:00:00.000000Z"}


def test_discharge_follow_ups_within_the_policy_interval_R_TRF_3(reporting, world):
    d = world.discharges
    in_time, late, pending = rows_of(extract(reporting, "discharge-follow-ups"), "TransferId",
                                     d["in_time"], d["late"], d["pending"])
    # The phone call on the 12th does not count; the visit on the 15th does, within 7 days.
    assert {k: in_time[k] for k in ("DischDateHospProvSpell", "FollowUpPolicyDays",
                                    "FollowUpDueDate", "FollowUpFaceToFaceDate",
                                    "FollowUpWithinPolicy", "LastModified")} == {
        "DischDateHospProvSpell": "2026-05-10", "FollowUpPolicyDays": 7,
        "FollowUpDueDate": "2026-05-17", "FollowUpFaceToFaceDate": "2026-05-15",
        "FollowUpWithinPolicy": True, "LastModified": "2026-05-15T16:00:00.000000Z"}
    assert (late["FollowUpDueDate"], late["FollowUpFaceToFaceDate"],
            late["FollowUpWithinPolicy"]) == ("2026-05-08", "2026-05-20", False)
    assert (pending["FollowUpFaceToFaceDate"], pending["FollowUpWithinPolicy"],
            pending["LastModified"]) == (None, None, "2026-05-20T12:00:00.000000Z")


def test_csv_has_a_header_row_and_rfc_4180_quoting(reporting, world):
    r = reporting.get("/extracts/care-plan-agreements", headers={"Accept": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/csv")
    assert r.content.endswith(b"\r\n") and b"\r\n" in r.content
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8"), newline="")))
    as_json = extract(reporting, "care-plan-agreements")
    assert table[0] == list(as_json[0].keys())
    assert len(table) == len(as_json) + 1
    by_id = {row[0]: dict(zip(table[0], row)) for row in table[1:]}
    odd = by_id[world.odd]
    assert odd["CarePlanAgreementMethod"] == 'by "phone", later'
    assert odd["CarePlanAgreed"] == "false" and odd["CarePlanContentAgreedDate"] == ""
    assert b'"by ""phone"", later"' in r.content
    assert by_id[world.agreement]["CarePlanVersion"] == "2"
    # The wildcard and application/json get NDJSON.
    for accept in ("*/*", "application/json", "text/csv;q=0.5, application/x-ndjson"):
        got = reporting.get("/extracts/care-plan-agreements", headers={"Accept": accept})
        assert got.headers["Content-Type"] == "application/x-ndjson", accept


def test_since_keeps_the_rows_changed_at_or_after_it(reporting, world):
    def ids(**params):
        return {r["ServiceRequestId"] for r in extract(reporting, "referrals", **params)}
    assert {world.referral, world.declined} <= ids()
    after_decline = ids(since="2026-01-01T00:00:00Z")
    assert world.referral in after_decline and world.declined not in after_decline
    # At the very instant of the change (inclusive), and with an offset.
    assert world.referral in ids(since="2026-03-11T10:00:00Z")
    assert world.referral not in ids(since="2026-03-11T11:00:00.5+01:00") | ids(
        since="2026-03-11T10:00:00.000001Z")
    # Derived rows change with what they are made of: the first CPA period ended at the step down.
    periods = {r["CPAEpisodeId"] for r in extract(reporting, "cpa-episodes",
                                                   since="2026-06-01T12:00:00Z")}
    assert world.levels[0] in periods and world.levels[2] in periods
    periods = {r["CPAEpisodeId"] for r in extract(reporting, "cpa-episodes",
                                                   since="2026-06-02T00:00:00Z")}
    assert world.levels[0] not in periods and world.levels[2] in periods


def test_a_bad_since_is_400_naming_it(reporting, db):
    before = db.count("audit_events")
    for bad in ("yesterday", "2026-13-01T00:00:00Z", "2026-01-01", ""):
        r = reporting.get("/extracts/referrals", params={"since": bad})
        problem = assert_problem(r, 400, "bad-request")
        assert [e["field"] for e in problem["errors"]] == ["/since"], problem
    assert db.count("audit_events") == before


def test_person_ids_are_pseudonyms_and_no_name_or_nhs_number_is_sent(reporting, db, world, pseudonym):
    person = world.person
    first = extract(reporting, "referrals")
    again = extract(reporting, "referrals")
    mine = [r["Person_ID"] for r in first if r["ServiceRequestId"] == world.referral]
    assert mine == [r["Person_ID"] for r in again if r["ServiceRequestId"] == world.referral]
    assert mine == [pseudonym(person["id"])] and mine[0] != person["id"]
    assert len(mine[0]) == 64 and int(mine[0], 16) >= 0
    people = db.rows("SELECT id::text, nhs_number, given_name, family_name,"
                     " to_char(date_of_birth, 'YYYY-MM-DD') AS born FROM service_users")
    secrets = {"Alex", "Sam Smith", "Dr Who", "Nurse Extract", "Not our service", "Low mood"}
    for p in people:
        secrets |= {p["id"], p["nhs_number"], p["family_name"], p["born"]}
    for table in TABLES:
        for accept in ("application/x-ndjson", "text/csv"):
            r = reporting.get(f"/extracts/{table}", headers={"Accept": accept})
            assert r.status_code == 200, r.text
            leaked = [s for s in secrets if s in r.text]
            assert not leaked, f"{table} ({accept}) shows {leaked}"


def test_each_extract_is_one_committed_export_event(reporting, db, service):
    before = db.scalar("SELECT coalesce(max(id), 0) FROM audit_events")
    r = reporting.get("/extracts/cpa-reviews", params={"since": "2026-01-01T00:00:00Z"},
                      headers={"Accept": "text/csv", "X-Request-Id": "extract-audit-1"})
    assert r.status_code == 200
    events = db.rows("SELECT * FROM audit_events WHERE id > %s ORDER BY id", (before,))
    assert len(events) == 1, events
    e = events[0]
    assert (e["action"], e["resource_type"], e["resource_id"], e["outcome"], e["actor"],
            e["roles"], e["request_id"], e["service_user_id"]) == (
        "export", "extract", "cpa-reviews", "success", "reporting-tool", ["reporting"],
        "extract-audit-1", None)
    assert e["details"] == {"table": "cpa-reviews", "mhsds": "MHS702", "format": "csv",
                            "since": "2026-01-01T00:00:00Z",
                            "next_since": r.headers["Extract-Next-Since"]}


def test_snapshot_and_next_since_headers(reporting):
    r = reporting.get("/extracts/referrals")
    snapshot = datetime.datetime.fromisoformat(r.headers["Extract-Snapshot-At"].replace("Z", "+00:00"))
    following = datetime.datetime.fromisoformat(r.headers["Extract-Next-Since"].replace("Z", "+00:00"))
    now = datetime.datetime.now(datetime.timezone.utc)
    assert following <= snapshot <= now + datetime.timedelta(seconds=5)
    assert now - following < datetime.timedelta(minutes=5)


def test_a_change_in_flight_during_an_extract_is_in_the_next_one(reporting, database, world):
    """A transaction that set updated_at = now() before the extract's snapshot but commits after
    it is invisible to that extract; Extract-Next-Since is early enough to include it next."""
    writer = psycopg2.connect(database.app_url, connect_timeout=10)
    try:
        with writer.cursor() as cur:
            cur.execute("UPDATE referrals SET updated_at = now() WHERE id = %s", (world.declined,))
        r = reporting.get("/extracts/referrals", params={"since": "2026-01-01T00:00:00Z"})
        assert world.declined not in {row["ServiceRequestId"] for row in ndjson(r)}
        writer.commit()
    finally:
        writer.close()
    again = extract(reporting, "referrals", since=r.headers["Extract-Next-Since"])
    assert world.declined in {row["ServiceRequestId"] for row in again}


def test_refusals_are_problems_and_write_only_the_deny_event(service, reporting, db):
    before = db.count("audit_events")
    with service.api(token=None) as anonymous:
        assert_problem(anonymous.get("/extracts/referrals"), 401, "unauthorized")
    assert db.count("audit_events") == before
    manager = mint_token(service.env, sub="extract-manager", roles=("manager",))
    with service.api(token=manager) as m:
        assert_problem(m.get("/extracts/referrals"), 403, "forbidden")
    denied = db.rows("SELECT * FROM audit_events WHERE actor = 'extract-manager'")
    assert [(e["action"], e["outcome"], e["resource_id"]) for e in denied] == [
        ("deny", "denied", "referrals")]
    before = db.count("audit_events")
    assert_problem(reporting.get("/extracts/people"), 404, "not-found")
    assert_problem(reporting.get("/extracts/referrals", headers={"Accept": "text/html"}), 406,
                   "not-acceptable")
    assert_problem(reporting.get("/extracts/referrals", params={"format": "csv"}), 400)
    assert db.count("audit_events") == before


def test_without_a_key_extracts_are_503_and_the_rest_works(service_factory):
    svc = service_factory.start(env={"CARECOORD_PSEUDONYM_KEY_FILE": None})
    token = mint_token(svc.env, sub="reporting-tool", roles=("reporting",))
    with svc.api(token=token) as s:
        problem = assert_problem(s.get("/extracts/referrals"), 503, "service-unavailable")
        assert "not configured" in problem["detail"]
        assert s.get("/readyz").status_code == 200
    with svc.api() as manager:
        assert manager.get("/teams").status_code == 200
    svc.stop()


def test_a_short_key_stops_the_service_with_the_variable_named(service_factory, tmp_path):
    path = tmp_path / "short.key"
    path.write_text("too short\n")
    svc = service_factory.start(env={"CARECOORD_PSEUDONYM_KEY_FILE": str(path)}, wait=False)
    assert svc.wait_exit() == 2
    assert "CARECOORD_PSEUDONYM_KEY_FILE" in svc.stderr_text()
