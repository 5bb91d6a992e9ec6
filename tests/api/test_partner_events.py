"""A partner organisation's event feed (GET /partners/me/events): written through a transactional
outbox by the database's triggers in the transaction of each change, numbered per organisation in
commit order without gaps, so that `after` resumes exactly where a reader stopped, across restarts
of the service. The referrals a partner sent (R-REF-1, R-REF-2) report each change of status."""

import threading

import pytest

from care_setup import new_team, partner_api, register_partner
from carecoord import nhs_number, unique


def person():
    return {"nhs_number": nhs_number(), "given_name": "Sam", "family_name": unique("Ev"),
            "date_of_birth": "1990-02-03"}


def referral_body(**over):
    body = {"source_type": "adult_social_care", "referrer_name": "Duty social worker",
            "referrer_contact": "0113 496 0300", "reason": "Low mood, not eating.",
            "urgency": "routine", "service_user": person()}
    body.update(over)
    return body


@pytest.fixture(scope="module")
def org(service, database):
    code = unique("asc-")
    assert register_partner(service, database, code).returncode == 0
    return code


def events_of(session, after=0, limit=200):
    r = session.get("/partners/me/events", params={"after": after, "limit": limit})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_partners_referral_reports_each_change_of_status(service, api, org):
    team = new_team(api)
    with partner_api(service, org, sub="events-system") as partner:
        start = events_of(partner)["last_event_seq"]
        key = {"Idempotency-Key": unique("ref-")}
        body = referral_body()
        first = partner.post("/referrals", json=body, headers=key)
        retry = partner.post("/referrals", json=body, headers=key)
        assert (first.status_code, retry.status_code) == (201, 201)
        referral = first.json()
        assert retry.json()["id"] == referral["id"]
        r = api.post(f"/referrals/{referral['id']}/triage",
                     json={"urgency": "routine", "responding_team_id": team["id"]})
        assert r.status_code == 200, r.text
        r = api.post(f"/referrals/{referral['id']}/decision",
                     json={"decision": "decline", "reason": "Needs are met by the GP"})
        assert r.status_code == 200, r.text
        page = events_of(partner, after=start)
        got = [(e["type"], e["resource"]["type"], e["resource"]["id"], e["resource"]["version"])
               for e in page["events"]]
        assert got == [("referral.received", "referral", referral["id"], 1),
                       ("referral.triaged", "referral", referral["id"], 2),
                       ("referral.declined", "referral", referral["id"], 3)]
        assert [e["seq"] for e in page["events"]] == [start + 1, start + 2, start + 3]
        href = page["events"][-1]["resource"]["href"]
        assert href == f"/referrals/{referral['id']}"
        seen = partner.get(href).json()
        assert (seen["status"], seen["version"]) == ("declined", 3)


def test_an_unregistered_organisations_referrals_make_no_events(service, db):
    stranger = unique("unregistered-")
    with partner_api(service, stranger) as partner:
        assert partner.post("/referrals", json=referral_body()).status_code \
            == 201
        assert partner.get("/partners/me/events").status_code == 403
    assert db.count("partner_events", "org = %s", (stranger,)) == 0


def test_concurrent_changes_are_numbered_in_commit_order_without_gaps(service, org, db):
    """Sixteen referrals sent at once by four systems of the organisation: sixteen events,
    numbered one after the other, each referral's once."""
    start = db.scalar("SELECT last_event_seq FROM partner_organisations WHERE code = %s", (org,))
    made, failures = [], []

    def send(n):
        with partner_api(service, org, sub=f"burst-{n}") as partner:
            for _ in range(4):
                r = partner.post("/referrals", json=referral_body())
                (made if r.status_code == 201 else failures).append(r)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, [f.text for f in failures]
    rows = db.rows("SELECT seq, resource_id::text AS id FROM partner_events"
                   " WHERE org = %s AND seq > %s ORDER BY seq", (org, start))
    assert [r["seq"] for r in rows] == list(range(start + 1, start + 17))
    assert sorted(r["id"] for r in rows) == sorted(m.json()["id"] for m in made)


def test_the_feed_resumes_across_a_restart_of_the_service(service_factory, service, org, db):
    with partner_api(service, org) as partner:
        before = events_of(partner)
    assert before["events"], "earlier tests made events"
    stop_at = before["events"][len(before["events"]) // 2]["seq"]
    service.stop()
    again = service_factory.start()
    with partner_api(again, org) as partner:
        resumed = events_of(partner, after=stop_at)
        assert resumed["events"] == [e for e in before["events"] if e["seq"] > stop_at]
        assert resumed["last_event_seq"] == before["last_event_seq"]
        # And new changes carry on the numbering.
        assert partner.post("/referrals", json=referral_body()
                            ).status_code == 201
        more = events_of(partner, after=before["last_event_seq"])
        assert [e["seq"] for e in more["events"]] == [before["last_event_seq"] + 1]
