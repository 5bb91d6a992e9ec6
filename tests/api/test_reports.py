"""Reports (GET /reports/{measure}): each measure counted on a hand-built data set with known
answers, in fixed past months so that the answers never depend on the day the tests run. The
edges: a review due on the month's last day (on time) and one due the day before (one day late),
a care level and an allocation changing half an hour after midnight on the 1st in British Summer
Time (the month is London's, not UTC's), and small numbers suppressed for the reporting role
(1 to 4, and a complement of 1 to 4). Records of the past are written directly in the database,
as a migration from an earlier system would; the episode facts the reports read are kept by the
database's triggers, which these tests therefore check too. Access: a manager sees their own
team only (an audited 403 otherwise), the reporting role every team; every read is audited."""

import datetime
import json
from types import SimpleNamespace

import pytest

from care_setup import Staff, assert_conforms, events, new_person, new_team
from carecoord import assert_problem, mint_token, unique

APRIL, MAY = "2026-04", "2026-05"


def at(text):
    """An aware UTC datetime from 'YYYY-MM-DDTHH:MM' (UTC)."""
    return datetime.datetime.fromisoformat(text + ":00+00:00")


class Region:
    """Teams made on demand, each with its manager and a clinician, and the reporting role."""

    def __init__(self, service, db, api):
        self.service, self.db, self.api = service, db, api
        self.made = []
        self.reporting = service.api(token=mint_token(service.env, sub="bi-tool", roles=("reporting",)))

    def team(self):
        team = new_team(self.api)
        manager = Staff(self.service, self.db, team["id"], "manager", professional_role="manager")
        clinicians = [Staff(self.service, self.db, team["id"], "coordinator") for _ in range(2)]
        self.made += [manager, *clinicians]
        return SimpleNamespace(id=team["id"], name=team["name"], manager=manager, clinicians=clinicians)

    def close(self):
        for s in self.made:
            s.close()
        self.reporting.close()


@pytest.fixture(scope="module")
def region(service, db, api):
    r = Region(service, db, api)
    yield r
    r.close()


def episode(region, team, opened, allocated=None, level="cpa", changes=(), closed=None, holder=None):
    """An episode opened at `opened` (UTC text) at `level`, allocated at `allocated` to a
    clinician of the team (care co-ordinator on CPA), with care-level `changes` [(when, to)]."""
    db = region.db
    person = new_person(region.api)
    episode_id = str(db.scalar(
        "INSERT INTO episodes (service_user_id, team_id, care_level, status, opened_at, closed_at)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (person["id"], team.id, changes[-1][1] if changes else level, "closed" if closed else "open",
         at(opened), at(closed) if closed else None)))
    db.execute("INSERT INTO episode_care_level_changes (episode_id, from_level, to_level, reason,"
               " changed_at, changed_by) VALUES (%s, NULL, %s, 'Opened.', %s, 'tests')",
               (episode_id, level, at(opened)))
    before = level
    for when, to in changes:
        db.execute("INSERT INTO episode_care_level_changes (episode_id, from_level, to_level, reason,"
                   " changed_at, changed_by) VALUES (%s, %s, %s, 'Reviewed.', %s, 'tests')",
                   (episode_id, before, to, at(when)))
        before = to
    if allocated:
        allocate(db, episode_id, holder or team.clinicians[0],
                 "care_coordinator" if level == "cpa" else "lead_professional", allocated)
    return SimpleNamespace(id=episode_id, person=person)


def allocate(db, episode_id, holder, role, started, ended=None):
    return str(db.scalar(
        "INSERT INTO allocations (episode_id, role, holder_staff_id, started_at, ended_at, end_reason,"
        " preferred_coordinator_gender, preferences_met) VALUES (%s, %s, %s, %s, %s, %s,"
        " 'no_preference', true) RETURNING id",
        (episode_id, role, holder.id, at(started), at(ended) if ended else None,
         "Handed over." if ended else None)))


def review_held(db, episode_id, held_on, level="cpa"):
    db.execute(
        "INSERT INTO reviews (episode_id, type, status, due_on, held_on, attendees, chaired_by,"
        " summary, outcome, care_level_before, care_level_after, held_recorded_by)"
        " VALUES (%s, 'scheduled', 'held', %s, %s, '[]', '{\"name\": \"Chair\"}', 'Held.',"
        " 'continue', %s, %s, 'tests')", (episode_id, held_on, held_on, level, level))


def assessment_completed(db, episode_id, kind, completed):
    risk = '{"items": [], "overall_level": "low"}'
    decision = ('{"criteria": {}, "automatic_group": "none", "decision": "cpa"}'
                if kind == "holistic" else None)
    db.execute(
        "INSERT INTO assessments (episode_id, type, status, summary, risk, cpa_decision,"
        " completed_at, completed_by) VALUES (%s, %s, 'completed', 'Done.', %s, %s, %s, 'tests')",
        (episode_id, kind, risk, decision, at(completed)))


def plan_activated(db, episode_id, activated):
    db.execute("INSERT INTO care_plans (episode_id, status, content, activated_at)"
               " VALUES (%s, 'active', '{}', %s)", (episode_id, at(activated)))


def report(who, measure, **params):
    r = who.get(f"/reports/{measure}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def figures(body, team, indicator=None):
    """{month: (numerator, denominator, rate)} of the team's rows (of one indicator)."""
    return {row["month"]: (row["numerator"], row["denominator"], row["rate"])
            for row in body["rows"]
            if row["team"] and row["team"]["id"] == team.id
            and (indicator is None or row["indicator"] == indicator)}


# -- R-REV-1 -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reviews(region):
    """Team A: at the end of April 2026 (interval 6 months) one episode reviewed in time, one a
    day late, one never reviewed, and episodes that do not count; team B: five reviewed."""
    db = region.db
    a, b = region.team(), region.team()
    long_ago = "2025-01-06T10:00"
    on_time = episode(region, a, long_ago, long_ago)
    review_held(db, on_time.id, "2025-10-30")  # next due 2026-04-30: the last day, not overdue
    day_late = episode(region, a, long_ago, long_ago)
    review_held(db, day_late.id, "2025-10-29")  # next due 2026-04-29: a day late on the 30th
    never = episode(region, a, "2025-10-29T09:00", "2025-10-29T09:00")  # first due 2026-04-29
    episode(region, a, "2026-01-10T09:00", "2026-01-10T09:00")  # first due 2026-07-10: not yet
    episode(region, a, long_ago, long_ago, level="non_cpa")  # not on CPA
    episode(region, a, long_ago, long_ago, closed="2026-04-20T12:00")  # closed by then
    # Stepped up to CPA at 00:30 BST on 1 May (23:30 UTC on 30 April): on CPA in May, not April.
    stepped_up = episode(region, a, long_ago, long_ago, level="non_cpa",
                         changes=[("2026-04-30T23:30", "cpa")])
    review_held(db, stepped_up.id, "2026-01-15", level="non_cpa")
    for _ in range(5):
        e = episode(region, b, long_ago, long_ago)
        review_held(db, e.id, "2026-03-01")
    return SimpleNamespace(a=a, b=b)


def test_cpa_review_compliance_counts_reviews_within_the_interval_at_month_end(service, reviews):
    """R-REV-1: the review due on 30 April is on time at the end of April, the one due on the
    29th is a day late; the person stepped up at 00:30 on 1 May counts from May."""
    body = report(reviews.a.manager.api, "cpa-review-compliance", **{"from": APRIL, "to": MAY})
    assert_conforms(service.env.repo, "Report", body)
    assert body["small_numbers_suppressed"] is False and body["team_id"] == reviews.a.id
    assert [r["team"]["id"] for r in body["rows"]] == [reviews.a.id, reviews.a.id]
    assert figures(body, reviews.a) == {
        APRIL: (1, 3, 0.3333),  # on time; a day late and never reviewed are not
        MAY: (1, 4, 0.25),  # the 30 October review is overdue by May; the stepped-up one is not
    }


def test_the_reporting_role_sees_every_team_with_small_numbers_suppressed(region, reviews):
    seen = report(region.reporting, "cpa-review-compliance", **{"from": APRIL})
    assert seen["from"] == APRIL and seen["to"] == APRIL  # one month given: a one-month period
    assert seen["small_numbers_suppressed"] is True and seen["team_id"] is None
    rows = {row["team"]["id"]: row for row in seen["rows"]}
    a, b = rows[reviews.a.id], rows[reviews.b.id]  # every team, each with its row for the month
    # Team A, 1 of 3: the numerator, the denominator and the rate are all hidden.
    assert (a["numerator"], a["denominator"], a["rate"], a["suppressed"]) == (None, None, None, True)
    # Team B, 5 of 5 (nobody missed: no small complement), is shown.
    assert (b["numerator"], b["denominator"], b["rate"], b["suppressed"]) == (5, 5, 1.0, False)
    # One team only, on request.
    one = report(region.reporting, "cpa-review-compliance", team_id=reviews.b.id, to=APRIL)
    assert [row["team"]["id"] for row in one["rows"]] == [reviews.b.id]
    # Never a person: no identifier or name of anyone in the output.
    text = json.dumps(seen)
    assert "service_user" not in text and "display_name" not in text


# -- R-ASM-1, R-CPL-1 ----------------------------------------------------------------------------


def test_assessments_and_care_plans_on_time_count_by_the_month_of_allocation(region):
    """R-ASM-1, R-CPL-1 (28 days): allocated at 00:30 BST on 1 April (23:30 UTC on 31 March) is
    April's; done on the 28th day is on time, on the 29th a day late; not done and overdue
    counts against."""
    db, t = region.db, region.team()
    first = episode(region, t, "2026-03-31T23:00", "2026-03-31T23:30")  # London: 1 April
    assessment_completed(db, first.id, "holistic", "2026-04-29T12:00")  # due 29 April: on time
    plan_activated(db, first.id, "2026-04-30T12:00")  # a day late
    second = episode(region, t, "2026-04-10T08:00", "2026-04-10T09:00")  # due 8 May
    assessment_completed(db, second.id, "holistic", "2026-05-09T09:00")  # a day late; no plan
    march = episode(region, t, "2026-03-31T22:00", "2026-03-31T22:30")  # London: 31 March
    assessment_completed(db, march.id, "holistic", "2026-04-02T10:00")
    body = report(t.manager.api, "assessment-and-care-plan-timeliness", **{"from": "2026-03", "to": APRIL})
    assert figures(body, t, "holistic_assessment_on_time") == {"2026-03": (1, 1, 1.0), APRIL: (1, 2, 0.5)}
    assert figures(body, t, "care_plan_on_time") == {"2026-03": (0, 1, 0.0), APRIL: (0, 2, 0.0)}
    assert {row["statistics"]["pending"] for row in body["rows"]} == {0}


# -- R-ASM-6 -------------------------------------------------------------------------------------


def test_risk_reviews_within_12_months_at_month_end(region):
    """R-ASM-6: a risk assessment of 30 April 2025 is in time at the end of April 2026, one of the
    29th a day late; an episode whose first risk assessment is not yet due does not count."""
    db, t = region.db, region.team()
    in_time = episode(region, t, "2025-01-06T10:00", "2025-01-06T10:00")
    assessment_completed(db, in_time.id, "risk_review", "2025-04-30T12:00")
    day_late = episode(region, t, "2025-01-06T10:00", "2025-01-06T10:00")
    assessment_completed(db, day_late.id, "risk_review", "2025-04-29T12:00")
    episode(region, t, "2026-04-05T10:00", "2026-04-05T10:00")  # first due 3 May: not yet
    episode(region, t, "2026-03-20T10:00", "2026-03-20T10:00")  # due 17 April, none: overdue
    body = report(t.manager.api, "risk-review-compliance", to=APRIL)
    assert figures(body, t) == {APRIL: (1, 3, 0.3333)}


# -- R-CAR-2 -------------------------------------------------------------------------------------


def carer(db, person_id, identified_on, assessment):
    db.execute(
        "INSERT INTO carers (service_user_id, name, relationship, contact, under_18,"
        " lives_with_person, identified_on, assessment) VALUES (%s, %s, 'sister',"
        " '{\"phone\": \"01632 960001\"}', false, false, %s, %s)",
        (person_id, unique("Carer "), identified_on, json.dumps(assessment)))


def test_carers_identified_offered_and_assessed_by_the_month_identified(region):
    """R-CAR-2: carers of the team's people, by the month identified (30 April is April's, 1 May
    May's); a carer of someone with no episode of the team does not count."""
    db, t = region.db, region.team()
    person = episode(region, t, "2026-01-05T10:00", "2026-01-05T10:00").person
    carer(db, person["id"], "2026-04-30", {"offered_on": "2026-04-30", "response": "accepted",
                                           "completed_on": "2026-05-20", "outcome": "eligible"})
    carer(db, person["id"], "2026-04-15", {"offered_on": "2026-04-16"})
    carer(db, person["id"], "2026-05-01", {})
    carer(db, new_person(region.api)["id"], "2026-04-20", {"offered_on": "2026-04-21"})
    body = report(t.manager.api, "carers", **{"from": APRIL, "to": MAY})
    assert figures(body, t, "offered_assessment") == {APRIL: (2, 2, 1.0), MAY: (0, 1, 0.0)}
    assert figures(body, t, "assessed") == {APRIL: (1, 2, 0.5), MAY: (0, 1, 0.0)}


# -- R-TRF-3 -------------------------------------------------------------------------------------


def discharge(db, episode_id, discharged_on, contacts):
    transfer_id = str(db.scalar(
        "INSERT INTO transfers (episode_id, type, status, reason, details, handover, proposed_at,"
        " proposed_by, decided_at, decided_by, completed_at, completed_by)"
        " VALUES (%s, 'hospital_discharge', 'completed', 'Home.', %s, '{}', %s, 'tests', %s,"
        " 'tests', %s, 'tests') RETURNING id",
        (episode_id, json.dumps({"discharged_on": discharged_on}), *[at(discharged_on + "T09:00")] * 3)))
    for contact_on, face_to_face in contacts:
        db.execute("INSERT INTO transfer_contacts (transfer_id, kind, contact_on, face_to_face,"
                   " by_name, recorded_by) VALUES (%s, 'follow_up', %s, %s, 'Nurse', 'tests')",
                   (transfer_id, contact_on, face_to_face))


def test_follow_up_within_7_days_of_hospital_discharge(region):
    """R-TRF-3 (7 days): seen face to face on the 7th day is in time, on the 8th late; a phone
    call does not count."""
    db, t = region.db, region.team()
    people = [episode(region, t, "2026-01-05T10:00", "2026-01-05T10:00") for _ in range(4)]
    discharge(db, people[0].id, "2026-04-10", [("2026-04-17", True)])
    discharge(db, people[1].id, "2026-04-20", [("2026-04-28", True)])
    discharge(db, people[2].id, "2026-04-30", [("2026-05-02", False), ("2026-05-08", True)])
    discharge(db, people[3].id, "2026-03-31", [("2026-04-01", True)])
    body = report(t.manager.api, "follow-up-after-discharge", **{"from": "2026-03", "to": APRIL})
    assert figures(body, t) == {"2026-03": (1, 1, 1.0), APRIL: (1, 3, 0.3333)}


# -- R-REF-1 -------------------------------------------------------------------------------------


def referral(db, team, source, urgency, received, status, answered_after_hours=None):
    received_at = at(received)
    due = received_at + {"routine": datetime.timedelta(days=28),
                         "urgent": datetime.timedelta(hours=72)}[urgency]
    decided = (received_at + datetime.timedelta(hours=answered_after_hours)
               if answered_after_hours is not None else None)
    person = new_person(team.manager.api)
    db.execute(
        "INSERT INTO referrals (service_user_id, source_type, reason, urgency, received_at,"
        " response_due_at, status, triaged_urgency, responding_team_id, triaged_at, triaged_by,"
        " decision_reason, decided_at, created_by) VALUES (%s, %s, 'Low mood.', %s, %s, %s, %s,"
        " %s, %s, %s, 'tests', %s, %s, 'tests')",
        (person["id"], source, urgency, received_at, due, status, urgency, team.id, received_at,
         "Not for us." if status == "declined" else None, decided))


def test_referrals_by_source_and_urgency_with_response_times(region):
    """R-REF-1: answered in time out of answered or overdue (withdrawn left out), with the median
    and 90th percentile of the hours to an answer; received at 00:30 BST on 1 May is May's."""
    db, t = region.db, region.team()
    referral(db, t, "gp", "routine", "2026-04-01T09:00", "declined", 24)
    referral(db, t, "gp", "routine", "2026-04-02T09:00", "declined", 72)
    referral(db, t, "gp", "routine", "2026-04-03T09:00", "withdrawn", 5)
    referral(db, t, "gp", "routine", "2026-04-04T09:00", "triaged")  # never answered: overdue
    referral(db, t, "self", "urgent", "2026-04-30T23:30", "declined", 100)  # due after 72 hours
    body = report(t.manager.api, "referrals", **{"from": APRIL, "to": MAY})
    rows = {(r["month"], r["breakdown"]["source_type"], r["breakdown"]["urgency"]): r
            for r in body["rows"]}
    assert set(rows) == {(APRIL, "gp", "routine"), (MAY, "self", "urgent")}
    gp = rows[(APRIL, "gp", "routine")]
    assert (gp["numerator"], gp["denominator"], gp["rate"]) == (2, 3, 0.6667)
    assert gp["statistics"] == {"received": 4, "answered": 2, "median_hours_to_answer": 48.0,
                                "p90_hours_to_answer": 67.2}
    late = rows[(MAY, "self", "urgent")]
    assert (late["numerator"], late["denominator"]) == (0, 1)
    assert late["statistics"]["median_hours_to_answer"] == 100.0
    # The reporting role: every count here is 1 to 4, and the times of so few are hidden too.
    hidden = report(region.reporting, "referrals", team_id=t.id, **{"from": APRIL})["rows"][0]
    assert (hidden["numerator"], hidden["denominator"], hidden["suppressed"]) == (None, None, True)
    assert hidden["statistics"] == {"received": None, "answered": None,
                                    "median_hours_to_answer": None, "p90_hours_to_answer": None}


# -- caseloads -----------------------------------------------------------------------------------


def test_caseloads_by_care_level_at_month_end(region):
    """R-ALC-1, R-ALC-2: the allocations current at the end of the month; a handover on 30 April
    moves the episode to its new holder for April's figures."""
    db, t = region.db, region.team()
    first, second = t.clinicians
    for _ in range(3):
        episode(region, t, "2026-01-05T10:00", "2026-01-05T10:00", holder=first)
    episode(region, t, "2026-01-05T10:00", "2026-01-05T10:00", level="non_cpa", holder=second)
    handed_over = episode(region, t, "2026-01-05T10:00")
    ended = "2026-04-30T12:00"
    allocate(db, handed_over.id, second, "care_coordinator", "2026-01-05T10:00", ended)
    allocate(db, handed_over.id, first, "care_coordinator", ended)
    body = report(t.manager.api, "caseloads", **{"from": "2026-03", "to": APRIL})
    assert figures(body, t, "cpa_caseload") == {"2026-03": (4, 2, 2.0), APRIL: (4, 1, 4.0)}
    assert figures(body, t, "non_cpa_caseload") == {"2026-03": (1, 1, 1.0), APRIL: (1, 1, 1.0)}
    largest = {(r["month"], r["indicator"]): r["statistics"]["largest"] for r in body["rows"]}
    assert largest[("2026-03", "cpa_caseload")] == 3 and largest[(APRIL, "cpa_caseload")] == 4
    # The reporting role: four people is a small number; the holders (staff) are not hidden.
    hidden = [r for r in report(region.reporting, "caseloads", team_id=t.id, to=APRIL)["rows"]
              if r["indicator"] == "cpa_caseload"][0]
    assert (hidden["numerator"], hidden["denominator"], hidden["rate"]) == (None, 1, None)
    assert hidden["statistics"] == {"largest": None} and hidden["suppressed"] is True
    # Every team at once finds the same holders, March's of the handed-over episode from the
    # allocation that has ended since (a different path from one team's).
    everyone = report(region.reporting, "caseloads", **{"from": "2026-03", "to": APRIL})
    holders = {month: denominator
               for month, (_, denominator, _) in figures(everyone, t, "cpa_caseload").items()}
    assert holders == {"2026-03": 2, APRIL: 1}


# -- data quality --------------------------------------------------------------------------------


def test_data_quality_counts_records_missing_mandatory_items_as_at_today(region):
    db, t = region.db, region.team()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M")
    complete = episode(region, t, now, now)  # allocated with preferences, plan not agreed
    db.execute("UPDATE service_users SET address = '{\"lines\": [\"1 Road\"]}',"
               " gp_practice = '{\"ods_code\": \"A81001\"}' WHERE id = %s", (complete.person["id"],))
    plan_activated(db, complete.id, now)
    episode(region, t, now)  # no address, no GP practice, not allocated
    body = report(t.manager.api, "data-quality")
    assert body["from"] == body["to"] == body["today"][:7]
    assert {r["indicator"]: (r["numerator"], r["denominator"]) for r in body["rows"]} == {
        "address_missing": (1, 2),
        "gp_practice_missing": (1, 2),
        "allocation_missing": (1, 2),
        "allocation_preferences_missing": (0, 1),
        "care_plan_agreement_missing": (1, 1),
    }
    past = t.manager.api.get("/reports/data-quality", params={"from": APRIL})
    assert_problem(past, 400)


# -- access, errors, audit -----------------------------------------------------------------------


def test_reports_list_their_measures_with_definitions(service, region):
    r = region.reporting.get("/reports")
    assert r.status_code == 200, r.text
    assert_conforms(service.env.repo, "ReportList", r.json())
    names = [m["measure"] for m in r.json()["measures"]]
    assert names == ["cpa-review-compliance", "assessment-and-care-plan-timeliness",
                     "risk-review-compliance", "carers", "follow-up-after-discharge", "referrals",
                     "caseloads", "data-quality"]
    assert all(m["definition"] and m["rules"].startswith("R-") for m in r.json()["measures"])


def test_a_manager_sees_only_their_own_team_and_a_refusal_is_audited(region, reviews, db):
    before = len(events(db, "report", "cpa-review-compliance", actor=reviews.a.manager.sub))
    r = reviews.a.manager.api.get("/reports/cpa-review-compliance", params={"team_id": reviews.b.id})
    assert_problem(r, 403)
    after = events(db, "report", "cpa-review-compliance", actor=reviews.a.manager.sub)
    assert [(e["action"], e["outcome"]) for e in after[before:]] == [("deny", "denied")]
    # A manager who is not (or no longer) an active member of any team sees nothing either.
    t = region.team()
    db.execute("UPDATE staff SET active = false WHERE id = %s", (t.manager.id,))
    assert_problem(t.manager.api.get("/reports/caseloads"), 403)


def test_clinicians_and_partners_get_no_reports(service, region):
    for role in ("coordinator", "lead_professional", "partner"):
        with service.api(token=mint_token(service.env, sub=unique("r-"), roles=(role,))) as s:
            assert_problem(s.get("/reports/caseloads"), 403)


@pytest.mark.parametrize("params, status", [
    ({"from": "2026-13"}, 400),
    ({"to": "26-04"}, 400),
    ({"from": "2026-05", "to": "2026-04"}, 400),
    ({"from": "2025-04", "to": "2026-04"}, 400),  # 13 months
    ({"from": "2099-01"}, 400),  # beyond the current month
    ({"team_id": "not-a-uuid"}, 400),
    ({"team_id": "00000000-0000-4000-8000-000000000000"}, 404),
    ({"colour": "blue"}, 400),
])
def test_bad_periods_and_teams_are_refused(region, params, status):
    assert_problem(region.reporting.get("/reports/caseloads", params=params), status)


def test_an_unknown_measure_is_not_found(region):
    assert_problem(region.reporting.get("/reports/happiness"), 404)


def test_every_report_read_is_audited_without_naming_anyone(region, db):
    t = region.team()
    report(t.manager.api, "caseloads", to=APRIL)
    read = events(db, "report", "caseloads", actor=t.manager.sub)
    assert [e["action"] for e in read] == ["read"]
    assert read[0]["service_user_id"] is None
    assert read[0]["details"] == {"from": APRIL, "to": APRIL, "team_id": t.id,
                                  "small_numbers_suppressed": False}
