"""The episode facts (db/migrations/0011_episode_facts.sql), which the episode summary, the
worklists and the reports read, are derived from the records by triggers in the transaction of
each change. These tests check the two properties the design rests on: two transactions changing
one episode's records at once leave facts that include both changes (the refresh waits for the
other and reads again), and after a mixed history written through the API and directly, the facts
equal a recomputation from the records. The application's role may read them, never write."""

import threading
import time

import psycopg2
import pytest

from care_setup import new_person, new_team


def connect(url):
    conn = psycopg2.connect(url)
    conn.autocommit = False
    return conn


def facts(db, episode_id):
    return db.rows("SELECT review_days::text, risk_days::text, review_held_on::text,"
                   " risk_completed_at IS NOT NULL AS risk FROM episode_facts"
                   " WHERE episode_id = %s", (episode_id,))[0]


@pytest.fixture
def episode(api, db):
    team = new_team(api)
    person = new_person(api)
    return str(db.scalar(
        "INSERT INTO episodes (service_user_id, team_id, care_level) VALUES (%s, %s, 'cpa')"
        " RETURNING id", (person["id"], team["id"])))


def review_sql():
    return ("INSERT INTO reviews (episode_id, type, status, due_on, held_on, attendees, chaired_by,"
            " summary, outcome, care_level_before, care_level_after, held_recorded_by)"
            " VALUES (%s, 'scheduled', 'held', '2026-03-01', '2026-03-01', '[]', '{}', 'Held.',"
            " 'continue', 'cpa', 'cpa', 'tests')")


def risk_sql():
    return ("INSERT INTO assessments (episode_id, type, status, summary, risk, completed_at,"
            " completed_by) VALUES (%s, 'risk_review', 'completed', 'Done.',"
            " '{\"items\": [], \"overall_level\": \"low\"}', '2026-03-02T12:00:00Z', 'tests')")


def test_concurrent_changes_to_one_episode_both_reach_its_facts(database, db, episode):
    first, second = connect(database.superuser_url), connect(database.superuser_url)
    try:
        with first.cursor() as cur:
            cur.execute(review_sql(), (episode,))  # its refresh holds the facts row
        done = threading.Event()
        failure = []

        def add_risk_assessment():
            try:
                with second.cursor() as cur:
                    cur.execute(risk_sql(), (episode,))  # waits for the first to finish
                second.commit()
            except Exception as e:  # reported below
                failure.append(e)
            finally:
                done.set()

        worker = threading.Thread(target=add_risk_assessment)
        worker.start()
        # The second is blocked on the facts row: visible as a lock wait, not guessed by a sleep.
        deadline = time.monotonic() + 10
        while not db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                            " AND wait_event_type = 'Lock'"):
            assert time.monotonic() < deadline, "the second transaction never waited for the first"
            assert not done.is_set(), failure
            time.sleep(0.01)
        first.commit()
        worker.join(10)
        assert done.is_set() and not failure, failure
    finally:
        first.close()
        second.close()
    f = facts(db, episode)
    # Both: the review the first committed while the second waited, and the second's assessment.
    assert f["review_days"] == "{[2026-03-01,2026-03-02)}" and f["review_held_on"] == "2026-03-01"
    assert f["risk_days"] == "{[2026-03-02,2026-03-03)}" and f["risk"] is True


def test_the_facts_equal_a_recomputation_from_the_records(db, episode):
    db.execute(review_sql(), (episode,))
    db.execute(risk_sql(), (episode,))
    db.execute("UPDATE episodes SET care_level = 'non_cpa' WHERE id = %s", (episode,))
    db.execute("CREATE TEMP TABLE kept AS SELECT * FROM episode_facts")
    db.execute("SELECT episode_facts_refresh(ARRAY(SELECT id FROM episodes))")
    differing = db.scalar("SELECT count(*) FROM ((TABLE kept EXCEPT TABLE episode_facts)"
                          " UNION ALL (TABLE episode_facts EXCEPT TABLE kept)) d")
    assert db.scalar("SELECT count(*) FROM episode_facts") >= 1
    assert differing == 0


def test_the_application_role_reads_the_facts_but_cannot_write_them(database, episode):
    conn = connect(database.app_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM episode_facts WHERE episode_id = %s", (episode,))
            assert cur.fetchone()[0] == 1
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("UPDATE episode_facts SET status = 'closed' WHERE episode_id = %s",
                            (episode,))
    finally:
        conn.close()
