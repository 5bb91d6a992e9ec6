"""The demo data (db/demo/demo.sql), as the service shows it: assessments in progress, completed
and overdue (R-ASM-1, R-ASM-6, R-ASM-7); care plans in every state (R-CPL-3); reviews on time
and overdue (R-REV-1); carers (R-CAR-1, R-CAR-2); transfers in every state (R-TRF-1) with
follow-ups due, done and overdue (R-TRF-3) and an overdue liaison (R-TRF-4). The dates that make
something "due but not overdue" are relative to the day the data is loaded, so this holds on any
day."""

import os

import psycopg2
import pytest

from carecoord import mint_token

EPISODE = "d0000000-0000-4000-8000-00000000000{}".format
PERSON = "c0000000-0000-4000-8000-00000000000{}".format


@pytest.fixture(scope="module")
def demo(test_env, database):
    with open(os.path.join(test_env.repo, "db", "demo", "demo.sql"), encoding="utf-8") as f:
        sql = f.read()
    conn = psycopg2.connect(database.owner_url, connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def as_staff(service, demo):
    sessions = {}

    def session(subject, role="coordinator"):
        if subject not in sessions:
            sessions[subject] = service.api(token=mint_token(service.env, sub=subject, roles=(role,)))
        return sessions[subject]

    yield session
    for s in sessions.values():
        s.close()


def get(session, path):
    r = session.get(path)
    assert r.status_code == 200, (path, r.text)
    return r.json()


def clocks(session, episode):
    return get(session, f"/episodes/{episode}")["summary"]["clocks"]


def test_assessments_in_progress_completed_and_overdue_R_ASM_1_R_ASM_6_R_ASM_7(as_staff):
    ahmed = as_staff("staff-ahmed")
    statuses = {a["status"] for a in get(ahmed, f"/episodes/{EPISODE(1)}/assessments")["items"]}
    assert statuses == {"in_progress", "completed"}
    assert clocks(ahmed, EPISODE(1))["holistic_assessment"]["completed"] is not None
    # Ngozi Adeyemi: no holistic assessment, long past due.
    assert clocks(as_staff("staff-kowalska"), EPISODE(4))["holistic_assessment"]["overdue"] is True
    assert clocks(ahmed, EPISODE(2))["risk_review"]["overdue"] is True
    assert clocks(as_staff("staff-murphy"), EPISODE(3))["tops"]["overdue"] is True


def test_care_plans_in_every_state_R_CPL_3_R_CPL_4(as_staff):
    ahmed = as_staff("staff-ahmed")
    plans = get(ahmed, f"/episodes/{EPISODE(1)}/care-plans")["items"] + \
        get(ahmed, f"/episodes/{EPISODE(2)}/care-plans")["items"]
    assert {p["status"] for p in plans} == {"draft", "active", "superseded"}
    active = next(p for p in plans if p["status"] == "active")
    assert (active["plan_version"], active["signed"], active["sent_to_person"], active["sent_to_gp"]) == \
        (2, True, True, True)
    assert [v["number"] for v in get(ahmed, f"/episodes/{EPISODE(1)}/care-plans/{active['id']}/versions")["items"]] == [1, 2]
    # Ngozi Adeyemi has no plan: overdue (R-CPL-1).
    assert clocks(as_staff("staff-kowalska"), EPISODE(4))["care_plan"]["overdue"] is True


def test_reviews_on_time_and_overdue_R_REV_1(as_staff):
    ahmed = as_staff("staff-ahmed")
    on_time, overdue = clocks(ahmed, EPISODE(1))["review"], clocks(ahmed, EPISODE(2))["review"]
    assert on_time["completed"] is not None and on_time["overdue"] is False
    assert overdue["overdue"] is True


def test_carers_with_and_without_consent_R_CAR_1_R_CAR_2(as_staff):
    carers = get(as_staff("staff-ahmed"), f"/service-users/{PERSON(1)}/carers")["items"]
    by_name = {c["name"]: c for c in carers}
    assert by_name["Samira Begum"]["consent"]["given"] is True
    assert by_name["Zayn Begum"]["young_carer"] is True
    assert by_name["Zayn Begum"]["assessment_offer_outstanding"] is True
    helen = get(as_staff("staff-ahmed"), f"/service-users/{PERSON(2)}/carers")["items"][0]
    assert helen["consent"]["given"] is False and helen["needs_review"]["overdue"] is True


def test_transfers_in_every_state_and_follow_ups_due_done_and_overdue_R_TRF_1_R_TRF_3_R_TRF_4(as_staff):
    sessions = {1: as_staff("staff-ahmed"), 2: as_staff("staff-ahmed"), 3: as_staff("staff-murphy"),
                4: as_staff("staff-kowalska"), 7: as_staff("staff-brown"),
                8: as_staff("staff-okafor", "manager"), 9: as_staff("staff-murphy")}
    transfers = {n: get(s, f"/episodes/{EPISODE(n)}/transfers")["items"] for n, s in sessions.items()}
    statuses = {t["status"] for items in transfers.values() for t in items}
    assert statuses == {"proposed", "accepted", "rejected", "completed", "cancelled"}

    def follow_up(n):
        found = [t for t in transfers[n] if t["type"] == "hospital_discharge"]
        assert len(found) == 1, transfers[n]
        return found[0]["clock"]

    due, done, overdue = follow_up(1), follow_up(2), follow_up(7)
    assert (due["completed"], due["overdue"], due["rule"]) == (None, False, "R-TRF-3")
    assert done["completed"] is not None and done["overdue"] is False
    assert overdue["completed"] is None and overdue["overdue"] is True
    liaison = next(t for t in transfers[8] if t["type"] == "out_of_area")["clock"]
    assert (liaison["overdue"], liaison["rule"]) == (True, "R-TRF-4")
