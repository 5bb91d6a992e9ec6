"""Support for the fault tests (tests/api/test_faults.py and the `fault` target in tests/fault/):
writer threads that keep a client-side ledger of every write the service acknowledged (2xx), the
classification of every answer they got, and the checks that every acknowledged write is in the
database with its audit event and that no write was left half done.

A write the service did not acknowledge (503, or the connection lost) is *in doubt*: it may or
may not have committed. The writers retry creates with the same Idempotency-Key, as a client
should; whatever is still in doubt when a load stops is retried once more after the fault
(`Load.settle_in_doubt`), which must give exactly one record per key.
"""

import collections
import re
import threading
import time

import requests
import urllib3

from carecoord import (
    PROBLEM_CONTENT_TYPE,
    PROBLEM_TYPE_PREFIX,
    nhs_number,
    service_user_payload,
    unique,
    wait_until,
)

SEAL_DEADLINE_S = 60.0


class Answer:
    """One request's outcome: kind is ok, unavailable (a valid 503), conflict (an allowed 409 or
    412), refused (no connection), lost (sent, no answer) or fault (anything else)."""

    def __init__(self, kind, response=None, elapsed=0.0, detail=""):
        self.kind = kind
        self.response = response
        self.elapsed = elapsed
        self.detail = detail

    @property
    def ok(self):
        return self.kind == "ok"


def _refused(exc):
    """True when the connection could not be established (nothing was sent)."""
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        reason = reason.reason
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def problems_of_503(resp):
    """What is wrong with a 503 as the contract defines it (problem+json, Retry-After)."""
    wrong = []
    ctype = resp.headers.get("Content-Type", "").split(";")[0].strip()
    if ctype != PROBLEM_CONTENT_TYPE:
        wrong.append(f"Content-Type {ctype!r}")
    else:
        try:
            body = resp.json()
            if body.get("status") != 503 or body.get("type") != PROBLEM_TYPE_PREFIX + "service-unavailable":
                wrong.append(f"body {body}")
        except ValueError:
            wrong.append(f"body not JSON: {resp.text[:100]!r}")
    retry_after = resp.headers.get("Retry-After", "")
    if not re.fullmatch(r"\d+", retry_after) or int(retry_after) < 1:
        wrong.append(f"Retry-After {retry_after!r}")
    return wrong


class Outcomes:
    """Every answer of a load, classified; the ledger of acknowledged writes; the creates still
    in doubt. Thread-safe. `answer_deadline_s` bounds how long any answer may take (a request
    that hangs longer is a fault)."""

    def __init__(self, answer_deadline_s, allow_lost=False, allow_refused=False):
        self.lock = threading.Lock()
        self.answer_deadline_s = answer_deadline_s
        self.allow_lost = allow_lost
        self.allow_refused = allow_refused
        self.counts = collections.Counter()
        self.faults = []
        self.ledger = []
        self.keys = {}  # Idempotency-Key -> {"path", "body", "kind", "acked"}
        self.slowest_503_s = 0.0
        self.slowest_s = 0.0
        self.last_ok_at = None  # time.monotonic() of the latest 2xx

    def fault(self, text):
        with self.lock:
            self.faults.append(text)
            self.counts["fault"] += 1

    def acknowledge(self, entry):
        with self.lock:
            self.ledger.append(entry)

    def ledger_of(self, kind):
        with self.lock:
            return [e for e in self.ledger if e["kind"] == kind]

    def in_doubt(self):
        with self.lock:
            return [(k, v) for k, v in self.keys.items() if not v["acked"]]

    def summary(self):
        with self.lock:
            kinds = collections.Counter(e["kind"] for e in self.ledger)
            return {"requests": sum(v for k, v in self.counts.items()), **dict(self.counts),
                    "acknowledged": dict(kinds), "slowest_503_s": round(self.slowest_503_s, 2),
                    "slowest_s": round(self.slowest_s, 2),
                    "in_doubt": sum(1 for v in self.keys.values() if not v["acked"])}

    def send(self, session, method, path, body=None, key=None, allow=()):
        """One request, classified. allow: statuses (409, 412) that are a legitimate answer."""
        headers = {"X-Request-Id": unique("fault-")}
        if key is not None:
            headers["Idempotency-Key"] = key
        started = time.monotonic()
        try:
            r = session.request(method, path, json=body, headers=headers,
                                timeout=self.answer_deadline_s + 10)
        except requests.exceptions.Timeout:
            elapsed = time.monotonic() - started
            self.fault(f"{method} {path}: no answer within {elapsed:.1f}s")
            return Answer("fault", elapsed=elapsed)
        except requests.exceptions.ConnectionError as exc:
            elapsed = time.monotonic() - started
            kind = "refused" if _refused(exc) else "lost"
            with self.lock:
                self.counts[kind] += 1
            if not (self.allow_refused if kind == "refused" else self.allow_lost):
                self.fault(f"{method} {path}: connection {kind}: {exc!r}"[:300])
            return Answer(kind, elapsed=elapsed, detail=repr(exc))
        elapsed = time.monotonic() - started
        with self.lock:
            self.slowest_s = max(self.slowest_s, elapsed)
        if elapsed > self.answer_deadline_s:
            self.fault(f"{method} {path}: {r.status_code} after {elapsed:.1f}s (deadline "
                       f"{self.answer_deadline_s}s)")
        if 200 <= r.status_code < 300:
            with self.lock:
                self.counts["ok"] += 1
                self.last_ok_at = time.monotonic()
            return Answer("ok", r, elapsed)
        if r.status_code == 503:
            wrong = problems_of_503(r)
            with self.lock:
                self.counts["unavailable"] += 1
                self.slowest_503_s = max(self.slowest_503_s, elapsed)
            if wrong:
                self.fault(f"{method} {path}: 503 but {', '.join(wrong)}")
            return Answer("unavailable", r, elapsed)
        if r.status_code in allow:
            with self.lock:
                self.counts["conflict"] += 1
            return Answer("conflict", r, elapsed)
        self.fault(f"{method} {path}: {r.status_code} {r.text[:300]}")
        return Answer("fault", r, elapsed)


def referral_body(team_id=None):
    """A GP referral that registers a new person from their identity (two records, one
    transaction)."""
    return {"source_type": "gp", "referrer_name": "Dr Shaw", "referrer_contact": "01632 960123",
            "reason": "Low mood for three months.", "urgency": "routine",
            "service_user": {"nhs_number": nhs_number(), "given_name": "Sam",
                             "family_name": unique("Fault"), "date_of_birth": "1990-02-03"}}


class Load:
    """Writer threads against one service (whose URL may change, e.g. after a restart: set
    `base_url`). Each writer uses its own keep-alive session and runs one scenario in a loop:

      person: POST /service-users (Idempotency-Key), retried with the same key until 2xx;
      intake: POST /referrals registering a new person (Idempotency-Key), then triage, then
              accept (which opens an episode with its care-level history and facts).

    Every 2xx goes to outcomes.ledger. Writers pause `pause_s` after an answer other than 2xx
    (a client backing off), never to wait for the service."""

    def __init__(self, base_url, token, outcomes, team_id, people=2, intakes=2, pause_s=0.05,
                 retry_creates=True):
        self.base_url = base_url
        self.token = token
        self.outcomes = outcomes
        self.team_id = team_id
        self.pause_s = pause_s
        self.retry_creates = retry_creates
        self.stopping = threading.Event()
        self.errors = []
        self.threads = [threading.Thread(target=self._run, args=(self._person,), daemon=True)
                        for _ in range(people)]
        self.threads += [threading.Thread(target=self._run, args=(self._intake,), daemon=True)
                         for _ in range(intakes)]

    # -- life cycle ---------------------------------------------------------------------------

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self, deadline_s=60):
        self.stopping.set()
        end = time.monotonic() + deadline_s
        for t in self.threads:
            t.join(max(0.0, end - time.monotonic()))
        hung = sum(t.is_alive() for t in self.threads)
        assert not hung, f"{hung} writer threads still running {deadline_s}s after stop"
        assert not self.errors, f"writer threads failed: {self.errors!r}"

    def wait_acknowledged(self, count, deadline_s, what="acknowledged writes", since=0):
        """Waits until the ledger holds `count` more entries than `since`."""
        return wait_until(lambda: len(self.outcomes.ledger) >= since + count and
                          len(self.outcomes.ledger), deadline_s, f"{count} {what}")

    def _session(self):
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.token}"
        return session

    def _run(self, scenario):
        try:
            with self._session() as session:
                while not self.stopping.is_set():
                    scenario(session)
        except Exception as exc:  # noqa: BLE001 - reported by stop()
            self.errors.append(exc)

    def _url(self, path):
        return self.base_url + path

    def _backoff(self):
        self.stopping.wait(self.pause_s)

    # -- steps --------------------------------------------------------------------------------

    def create(self, session, path, body, kind):
        """POST with a fresh Idempotency-Key, retried with the same key until acknowledged (or
        the load stops: the create then stays in doubt)."""
        key = unique("fault-key-")
        with self.outcomes.lock:
            self.outcomes.keys[key] = {"path": path, "body": body, "kind": kind, "acked": False}
        sent = False
        while True:
            a = self.outcomes.send(session, "POST", self._url(path), body, key=key)
            sent |= a.kind != "refused"
            if a.ok:
                with self.outcomes.lock:
                    self.outcomes.keys[key]["acked"] = True
                return key, a.response.json()
            if self.stopping.is_set() or not self.retry_creates or a.kind == "fault":
                if not sent:  # never reached the service: not in doubt
                    with self.outcomes.lock:
                        del self.outcomes.keys[key]
                return key, None
            self._backoff()

    def step(self, session, path, body):
        """POST of a state change without a key. After an attempt that was not acknowledged, a
        409 may mean that attempt did commit: the referral is then read to find out (and the
        scenario gives up on it either way). Returns the 2xx body or None."""
        in_doubt = False
        while not self.stopping.is_set():
            a = self.outcomes.send(session, "POST", self._url(path), body,
                                   allow=(409,) if in_doubt else ())
            if a.ok:
                return a.response.json()
            if a.kind in ("conflict", "fault"):
                return None
            in_doubt = True
            self._backoff()
        return None

    def _person(self, session):
        body = service_user_payload()
        key, made = self.create(session, "/service-users", body, "service_user")
        if made:
            self.outcomes.acknowledge({"kind": "service_user", "id": made["id"], "key": key,
                                       "nhs_number": body["nhs_number"]})
        else:
            self._backoff()

    def _intake(self, session):
        body = referral_body()
        key, referral = self.create(session, "/referrals", body, "referral")
        if not referral:
            self._backoff()
            return
        self.outcomes.acknowledge({"kind": "referral", "id": referral["id"], "key": key,
                                   "service_user_id": referral["service_user_id"],
                                   "nhs_number": body["service_user"]["nhs_number"]})
        triaged = self.step(session, f"/referrals/{referral['id']}/triage",
                            {"urgency": "routine", "responding_team_id": self.team_id})
        if not triaged:
            return
        self.outcomes.acknowledge({"kind": "triage", "id": referral["id"]})
        accepted = self.step(session, f"/referrals/{referral['id']}/decision",
                             {"decision": "accept", "care_level": "cpa"})
        if accepted:
            self.outcomes.acknowledge({"kind": "accept", "id": referral["id"],
                                       "episode_id": accepted["episode_id"]})

    # -- after the fault ----------------------------------------------------------------------

    def settle_in_doubt(self, session, db):
        """Retries every create still in doubt with its key (session: an Api of the service as it
        now runs): each must now be acknowledged, and exactly one record exists per key. Returns
        how many were settled."""
        settled = 0
        for key, entry in self.outcomes.in_doubt():
            r = session.post(entry["path"], json=entry["body"],
                             headers={"Idempotency-Key": key})
            assert r.status_code == 201, f"retry of {entry['path']} with its key: {r.status_code} {r.text[:300]}"
            nhs = (entry["body"]["service_user"] if entry["kind"] == "referral" else entry["body"])["nhs_number"]
            people = db.count("service_users", "nhs_number = %s", (nhs,))
            assert people == 1, f"{people} service users for one Idempotency-Key ({entry['kind']})"
            if entry["kind"] == "referral":
                referrals = db.count("referrals r JOIN service_users s ON s.id = r.service_user_id",
                                     "s.nhs_number = %s", (nhs,))
                assert referrals == 1, f"{referrals} referrals for one Idempotency-Key"
            with self.outcomes.lock:
                entry["acked"] = True
            settled += 1
        return settled


# -- checks ------------------------------------------------------------------------------------


def _events(db, action, resource_type, ids):
    """{resource_id: number of events} for the given resources."""
    if not ids:
        return {}
    rows = db.rows("SELECT resource_id, count(*) AS n FROM audit_events WHERE action = %s"
                   " AND resource_type = %s AND resource_id = ANY(%s) GROUP BY resource_id",
                   (action, resource_type, list(ids)))
    return {r["resource_id"]: r["n"] for r in rows}


def check_ledger(db, outcomes):
    """Every acknowledged write is in the database, each with its one audit event. Returns the
    number of ledger entries checked."""
    ledger = list(outcomes.ledger)
    missing = []

    people = {e["id"] for e in ledger if e["kind"] in ("service_user",)}
    people |= {e["service_user_id"] for e in ledger if e["kind"] == "referral"}
    found = {str(r["id"]) for r in db.rows("SELECT id FROM service_users WHERE id = ANY(%s::uuid[])",
                                           (list(people),))}
    missing += [f"service user {i}" for i in people - found]
    created = _events(db, "create", "service_user", people)
    missing += [f"create event of service user {i} ({created.get(i, 0)} events)"
                for i in people if created.get(i, 0) != 1]

    referrals = {e["id"] for e in ledger if e["kind"] == "referral"}
    states = {str(r["id"]): r for r in db.rows(
        "SELECT id, status, episode_id::text FROM referrals WHERE id = ANY(%s::uuid[])",
        (list(referrals),))}
    missing += [f"referral {i}" for i in referrals - set(states)]
    created = _events(db, "create", "referral", referrals)
    missing += [f"create event of referral {i}" for i in referrals if created.get(i, 0) != 1]

    changes = collections.Counter()
    for r in db.rows("SELECT resource_id, details->>'to' AS to_state FROM audit_events"
                     " WHERE action = 'update' AND resource_type = 'referral'"
                     " AND resource_id = ANY(%s)", (list(referrals),)):
        changes[(r["resource_id"], r["to_state"])] += 1
    for e in ledger:
        if e["kind"] == "triage":
            if states.get(e["id"], {}).get("status") not in ("triaged", "accepted"):
                missing.append(f"triage of referral {e['id']}")
            if changes[(e["id"], "triaged")] != 1:
                missing.append(f"triage event of referral {e['id']}")
        elif e["kind"] == "accept":
            state = states.get(e["id"], {})
            if state.get("status") != "accepted" or state.get("episode_id") != e["episode_id"]:
                missing.append(f"acceptance of referral {e['id']}: {state}")
            if changes[(e["id"], "accepted")] != 1:
                missing.append(f"acceptance event of referral {e['id']}")
    episodes = {e["episode_id"] for e in ledger if e["kind"] == "accept"}
    found = {str(r["id"]) for r in db.rows("SELECT id FROM episodes WHERE id = ANY(%s::uuid[])",
                                           (list(episodes),))}
    missing += [f"episode {i}" for i in episodes - found]
    created = _events(db, "create", "episode", episodes)
    missing += [f"create event of episode {i}" for i in episodes if created.get(i, 0) != 1]
    assert not missing, f"{len(missing)} acknowledged writes missing, e.g. {missing[:10]}"
    return len(ledger)


# Over the whole database: records made through the API (tests may insert episodes directly,
# which have no events; those are left out).
HALF_WRITES = {
    "service users without their one create event":
        "SELECT count(*) FROM service_users s WHERE (SELECT count(*) FROM audit_events e"
        " WHERE e.action = 'create' AND e.resource_type = 'service_user'"
        " AND e.resource_id = s.id::text) <> 1",
    "referrals without their one create event":
        "SELECT count(*) FROM referrals r WHERE (SELECT count(*) FROM audit_events e"
        " WHERE e.action = 'create' AND e.resource_type = 'referral'"
        " AND e.resource_id = r.id::text) <> 1",
    "referrals past received without the event of their triage":
        "SELECT count(*) FROM referrals r WHERE r.status IN ('triaged', 'accepted')"
        " AND NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.action = 'update'"
        " AND e.resource_type = 'referral' AND e.resource_id = r.id::text"
        " AND e.details->>'to' = 'triaged')",
    "accepted referrals without their episode":
        "SELECT count(*) FROM referrals r WHERE r.status = 'accepted' AND NOT EXISTS"
        " (SELECT 1 FROM episodes p WHERE p.id = r.episode_id AND p.referral_id = r.id)",
    "episodes of a referral that is not accepted":
        "SELECT count(*) FROM episodes p JOIN referrals r ON r.id = p.referral_id"
        " WHERE r.status <> 'accepted' OR r.episode_id IS DISTINCT FROM p.id",
    "episodes opened by a referral without their one create event":
        "SELECT count(*) FROM episodes p WHERE p.referral_id IS NOT NULL AND"
        " (SELECT count(*) FROM audit_events e WHERE e.action = 'create'"
        " AND e.resource_type = 'episode' AND e.resource_id = p.id::text) <> 1",
    "episodes opened by a referral without their care-level history":
        "SELECT count(*) FROM episodes p WHERE p.referral_id IS NOT NULL AND NOT EXISTS"
        " (SELECT 1 FROM episode_care_level_changes c WHERE c.episode_id = p.id)",
    "episodes without their facts":
        "SELECT count(*) FROM episodes p WHERE NOT EXISTS"
        " (SELECT 1 FROM episode_facts f WHERE f.episode_id = p.id)",
    "Idempotency-Keys claimed but never answered":
        "SELECT count(*) FROM idempotency_keys WHERE response_status IS NULL",
}


def check_no_half_writes(db):
    """Invariants that a write committed without all of its parts would break."""
    broken = {what: n for what, sql in HALF_WRITES.items() if (n := db.scalar(sql))}
    assert not broken, f"half-written records: {broken}"


def verify_chain(api):
    r = api.get("/audit-events/verify")
    assert r.status_code == 200, r.text
    return r.json()


def wait_chain_sealed_and_valid(api, deadline_s=SEAL_DEADLINE_S):
    """Waits until the sealer has sealed every event, then asserts the chain verifies."""
    body = wait_until(lambda: (lambda b: b if b["unsealed"] == 0 else None)(verify_chain(api)),
                      deadline_s, "the sealer to seal every audit event")
    assert body["valid"] is True and body["first_broken"] is None, body
    return body


def report(name, values):
    """One line a test prints (pytest -rA / ctest --output-on-failure shows it on failure, and
    `-s` always): the numbers the README's Reliability section quotes."""
    print(f"\nRELIABILITY {name}: " + ", ".join(f"{k}={v}" for k, v in values.items()), flush=True)
