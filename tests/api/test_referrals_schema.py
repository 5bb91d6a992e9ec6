"""The referrals schema (db/migrations/0004_referrals.sql): the database's CHECK constraints
repeat R-REF-1..4 as the last line of defence, the application role's privileges, and the demo
data (referrals in every state, loaded twice without change)."""

import os
import uuid

import psycopg2
import psycopg2.errors
import pytest

from carecoord import nhs_number

STATES = ("received", "triaged", "accepted", "declined", "redirected", "withdrawn")


@pytest.fixture(scope="module")
def person_and_team(db):
    person = str(uuid.uuid4())
    db.execute(
        """INSERT INTO service_users (id, nhs_number, given_name, family_name, date_of_birth, gender)
           VALUES (%s, %s, 'Test', 'Referral', '1990-01-01', 'unknown')""",
        (person, nhs_number()),
    )
    team = str(uuid.uuid4())
    db.execute("INSERT INTO teams (id, name, type) VALUES (%s, %s, 'crisis_home_treatment')",
               (team, "Schema crisis " + team[:8]))
    return person, team


def insert_referral(db, person, **columns):
    row = {
        "service_user_id": person,
        "source_type": "gp",
        "reason": "Low mood.",
        "urgency": "routine",
        "received_at": "2026-03-10 09:00:00+00",
        "response_due_at": "2026-04-07 09:00:00+00",
        "created_by": "schema-test",
    }
    row.update(columns)
    names = ", ".join(row)
    marks = ", ".join(["%s"] * len(row))
    return db.scalar(f"INSERT INTO referrals ({names}) VALUES ({marks}) RETURNING id",
                     tuple(row.values()))


def refused(db, person, constraint, **columns):
    before = db.count("referrals")
    with pytest.raises(psycopg2.errors.CheckViolation) as err:
        insert_referral(db, person, **columns)
    assert err.value.diag.constraint_name == constraint
    assert db.count("referrals") == before


def test_r_ref_1_a_referral_records_source_reason_urgency_and_receipt(db, person_and_team):
    person, _ = person_and_team
    rid = insert_referral(db, person)
    row = db.one("SELECT status, urgency, source_type, received_at < response_due_at AS ok"
                 " FROM referrals WHERE id = %s", (rid,))
    assert row == {"status": "received", "urgency": "routine", "source_type": "gp", "ok": True}
    for column, value in (("urgency", "soon"), ("source_type", "friend"), ("reason", "")):
        with pytest.raises(psycopg2.errors.CheckViolation):
            insert_referral(db, person, **{column: value})
    with pytest.raises(psycopg2.errors.NotNullViolation):
        insert_referral(db, person, response_due_at=None)
    refused(db, person, "referrals_due_after_receipt", response_due_at="2026-03-10 09:00:00+00")
    with pytest.raises(psycopg2.errors.CheckViolation):
        insert_referral(db, person, reason="x" * 4001)
    with pytest.raises(psycopg2.errors.CheckViolation):
        insert_referral(db, person, known_risks="x" * 4001)


def test_r_ref_2_decline_and_redirect_need_a_reason(db, person_and_team):
    person, team = person_and_team
    decided = {"triaged_urgency": "routine", "responding_team_id": team,
               "decided_at": "2026-03-11 09:00:00+00"}
    refused(db, person, "referrals_decline_reason", status="declined", **decided)
    refused(db, person, "referrals_redirect_reason", status="redirected",
            redirected_to="NHS Talking Therapies", **decided)
    refused(db, person, "referrals_redirect_reason", status="redirected",
            decision_reason="Primary care need.", **decided)
    insert_referral(db, person, status="declined", decision_reason="No secondary care need.",
                    **decided)
    insert_referral(db, person, status="redirected", decision_reason="Primary care need.",
                    redirected_to="NHS Talking Therapies", **decided)


def test_r_ref_2_states_need_triage_and_decision_time(db, person_and_team):
    person, team = person_and_team
    refused(db, person, "referrals_triage_complete", status="triaged")
    refused(db, person, "referrals_decided_at", status="triaged", triaged_urgency="urgent",
            responding_team_id=team, decided_at="2026-03-11 09:00:00+00")
    refused(db, person, "referrals_decided_at", status="withdrawn")
    refused(db, person, "referrals_redirected_to_only_when_redirected", redirected_to="Elsewhere")
    # a withdrawal may come before triage
    insert_referral(db, person, status="withdrawn", decided_at="2026-03-10 10:00:00+00")


def test_r_ref_4_an_accepted_referral_has_exactly_its_episode(db, person_and_team):
    person, team = person_and_team
    decided = {"triaged_urgency": "routine", "responding_team_id": team,
               "decided_at": "2026-03-11 09:00:00+00"}
    refused(db, person, "referrals_accepted_episode", status="accepted", **decided)
    conn = db.connect(autocommit=False)
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO episodes (service_user_id, team_id, care_level,"
                        " care_level_provisional) VALUES (%s, %s, 'non_cpa', true) RETURNING id",
                        (person, team))
            episode = cur.fetchone()[0]
            cur.execute(
                """INSERT INTO referrals (service_user_id, source_type, reason, urgency,
                     received_at, response_due_at, status, triaged_urgency, responding_team_id,
                     decided_at, episode_id, created_by)
                   VALUES (%s, 'gp', 'Low mood.', 'routine', '2026-03-10 09:00+00',
                     '2026-04-07 09:00+00', 'accepted', 'routine', %s, '2026-03-11 09:00+00',
                     %s, 'schema-test') RETURNING id""", (person, team, episode))
            referral = cur.fetchone()[0]
            cur.execute("UPDATE episodes SET referral_id = %s WHERE id = %s", (referral, episode))
        conn.commit()
    finally:
        conn.close()
    # one episode per referral, one referral per episode
    with pytest.raises(psycopg2.errors.UniqueViolation):
        db.execute("INSERT INTO episodes (service_user_id, team_id, referral_id) VALUES (%s, %s, %s)",
                   (person, team, referral))
    with pytest.raises(psycopg2.errors.CheckViolation):
        db.execute("UPDATE episodes SET care_level = 'high' WHERE id = %s", (episode,))


def test_care_level_history_records_real_changes(db, person_and_team):
    person, _ = person_and_team
    # a team of its own: the person already has an open episode with the shared one
    team = db.scalar("INSERT INTO teams (name, type) VALUES (%s, 'community_mental_health')"
                     " RETURNING id", ("Schema CMHT " + str(uuid.uuid4())[:8],))
    episode = db.scalar("INSERT INTO episodes (service_user_id, team_id) VALUES (%s, %s)"
                        " RETURNING id", (person, team))
    assert db.scalar("SELECT care_level || ' ' || care_level_provisional FROM episodes"
                     " WHERE id = %s", (episode,)) == "non_cpa false"
    db.execute("INSERT INTO episode_care_level_changes (episode_id, from_level, to_level, reason,"
               " changed_by) VALUES (%s, NULL, 'non_cpa', 'Provisional at acceptance.', 't')",
               (episode,))
    db.execute("INSERT INTO episode_care_level_changes (episode_id, from_level, to_level, reason,"
               " changed_by) VALUES (%s, 'non_cpa', 'cpa', 'Assessment met CPA criteria.', 't')",
               (episode,))
    with pytest.raises(psycopg2.errors.CheckViolation):
        db.execute("INSERT INTO episode_care_level_changes (episode_id, from_level, to_level,"
                   " reason, changed_by) VALUES (%s, 'cpa', 'cpa', 'No change.', 't')", (episode,))


def test_application_role_cannot_delete_referrals_or_rewrite_history(db):
    privileges = {
        (r["table_name"], r["privilege_type"])
        for r in db.rows(
            """SELECT table_name, privilege_type FROM information_schema.role_table_grants
               WHERE grantee = 'carecoord_app'
                 AND table_name IN ('referrals', 'episode_care_level_changes')""")
    }
    assert privileges == {
        ("referrals", "SELECT"), ("referrals", "INSERT"), ("referrals", "UPDATE"),
        ("episode_care_level_changes", "SELECT"), ("episode_care_level_changes", "INSERT"),
    }


def test_demo_data_has_referrals_in_every_state_and_loads_twice(test_env, database):
    path = os.path.join(test_env.repo, "db", "demo", "demo.sql")
    with open(path, encoding="utf-8") as f:
        sql = f.read()
    conn = psycopg2.connect(database.owner_url, connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            cur.execute("SELECT status, count(*) FROM referrals"
                        " WHERE id::text LIKE 'e0000000-%%' GROUP BY status")
            first = dict(cur.fetchall())
            cur.execute("SELECT * FROM referrals ORDER BY id")
            rows = cur.fetchall()
            cur.execute(sql)
            cur.execute("SELECT * FROM referrals ORDER BY id")
            assert cur.fetchall() == rows, "loading the demo data again changed referrals"
            # R-REF-4: the accepted referral and its episode name each other
            cur.execute("""SELECT count(*) FROM referrals r JOIN episodes e ON e.id = r.episode_id
                           WHERE r.id::text LIKE 'e0000000-%%'
                             AND r.status = 'accepted' AND e.referral_id = r.id
                             AND e.service_user_id = r.service_user_id
                             AND e.team_id = r.responding_team_id""")
            linked = cur.fetchone()[0]
    finally:
        conn.close()
    assert set(first) == set(STATES) and all(n >= 1 for n in first.values())
    assert linked == first["accepted"]
