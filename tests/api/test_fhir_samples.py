"""The C renderings of service/fhir checked against the FHIR R4 schema: tests/support/fhir_samples
(built by CMake; CARECOORD_FHIR_SAMPLES) renders sample partner views of every kind of share,
each item, every status and the partner's referrals, and the schema validator checks them all in
one run. No database."""

import copy
import json
import os
import subprocess
from pathlib import Path

import pytest

from fhir_schema import assert_valid_fhir

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")
ALL_ITEMS = ("person", "person_contact", "episode", "care_team", "needs_summary", "risk_summary",
             "carer", "care_plan", "transfer")
UPDATED = "2026-11-30T10:15:00.123456+00:00"


def full_content():
    return {
        "person": {"id": "3f1c1b8e-3c0a-4a59-9b7e-2f3f1d0c9a01", "nhs_number": "9434765919",
                   "given_name": "Ann", "family_name": "Smith", "date_of_birth": "1980-01-02",
                   "gender": "female"},
        "person_contact": {"address": {"lines": ["1 High St", "Leeds"], "postcode": "LS1 1AA"},
                           "gp_practice": {"ods_code": "B86001", "name": "Park Surgery"}},
        "episode": {"id": "8a5e2d7c-6b4f-4e3a-9c2d-1b0a9f8e7d02", "status": "open",
                    "care_level": "cpa", "opened_at": "2026-01-05T09:00:00+00:00",
                    "closed_at": None,
                    "team": {"id": "c0ffee00-1111-4222-8333-444455556603",
                             "name": "Leeds North CMHT"}},
        "care_team": {"team": {"id": "c0ffee00-1111-4222-8333-444455556603",
                               "name": "Leeds North CMHT"},
                      "holder": {"role": "care_coordinator", "name": "Jo Bloggs",
                                 "staff_id": "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e504",
                                 "organisation": None, "since": "2026-01-06T12:00:00+00:00"},
                      "deputy": {"name": "Sam Deputy",
                                 "staff_id": "e1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e505"}},
        "needs_summary": "Needs help with housing and\u00a0money.",
        "risk_summary": "Low risk to others; history of self-harm.",
        "carer": {"id": "f0e1d2c3-b4a5-4968-8776-655443322106", "name": "Mary Smith",
                  "relationship": "mother",
                  "contact": {"phone": "0113 496 0000", "email": "mary@example.org"},
                  "under_18": False, "date_of_birth": "1955-03-04", "lives_with_person": True},
        "care_plan": {
            "id": "a9b8c7d6-e5f4-4a3b-9c2d-1e0f9a8b7c07", "plan_version": 2, "status": "active",
            "activated_at": "2026-02-01T10:00:00+00:00",
            "needs": [{"domain": "housing", "description": "Rent arrears"},
                      {"domain": "physical_health", "description": None}],
            "goals": [{"in_own_words": "Keep my flat", "target_date": "2026-06-30"},
                      {"in_own_words": "Sleep better", "target_date": None}],
            "interventions": [
                {"what": "Benefits advice", "delivered_by": "agency",
                 "provider_name": "Citizens Advice Leeds", "frequency": "monthly",
                 "from": "2026-02-01", "to": "2026-08-01"},
                {"what": "Weekly visits", "delivered_by": "staff", "provider_name": None,
                 "frequency": "weekly", "from": None, "to": None},
                {"what": "Sleep diary", "delivered_by": "person", "provider_name": None,
                 "frequency": None, "from": None, "to": None}],
            "crisis_plan": {"early_warning_signs": "Not sleeping", "what_person_should_do":
                            "Call the team", "what_others_should_do": "Call the crisis line",
                            "contacts_24_7": [{"name": "Crisis line", "number": "0800 000 0000"},
                                              {"name": "NHS 111", "number": "111"}]},
            "contingency_plan": {"contact_name": "Pat Duty", "contact_role": "Duty worker",
                                 "contact_phone": "0113 000 0000", "arrangements": None},
            "risk_management_plan": {"plan": "Weekly review of mood",
                                     "risk_categories": ["self_harm", "self_neglect"]}},
        "transfer": {"id": "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d08", "type": "partner_agency",
                     "status": "proposed", "reason": "Social care needs now primary",
                     "proposed_at": "2026-11-29T15:00:00+00:00"},
    }


def share(kind, items=ALL_ITEMS, status="sent", **overrides):
    content = {name: value for name, value in full_content().items() if name in items}
    view = {
        "id": "5d3c3f7e-1a2b-4c5d-8e9f-0a1b2c3d4e09", "kind": kind, "org": "ASC-LEEDS",
        "status": status, "message": "Please see the attached summary.",
        "lawful_basis": {"basis": "consent", "consent_given_on": "2026-11-30",
                         "note": "Consent recorded at review."},
        "data_set": list(items), "content": content,
        "created_at": "2026-11-30T10:00:00+00:00", "updated_at": UPDATED,
        "acknowledged_at": None, "decided_at": None, "rejection_reason": None, "version": 3,
    }
    view.update(overrides)
    return {"share": view}


def referral(status="received", urgency="routine", **overrides):
    view = {
        "id": "7e6d5c4b-3a29-4817-9f6e-5d4c3b2a1f10", "external_reference": "ASC/2026/0042",
        "source_type": "local_authority", "source_org": "ASC LEEDS", "urgency": urgency,
        "received_at": "2026-11-30T10:15:00+00:00",
        "response_due_at": "2026-12-28T10:15:00+00:00", "status": status,
        "decision_reason": None, "redirected_to": None, "decided_at": None,
        "created_at": "2026-11-30T10:15:00+00:00", "updated_at": UPDATED, "version": 1,
    }
    view.update(overrides)
    return {"referral": view}


def samples():
    """(name, input): every kind with every item, the least each kind needs, every status."""
    minimal = {"care_act_assessment_referral": ("person",),
               "carer_assessment_referral": ("person", "carer"),
               "care_plan": ("person", "care_plan"), "transfer": ("transfer",)}
    out = []
    for kind, least in minimal.items():
        out.append((f"{kind} with every item", share(kind)))
        out.append((f"{kind} with the least", share(kind, items=least, message=None)))
    for status in ("sent", "acknowledged", "accepted", "rejected", "withdrawn"):
        out.append((f"share {status}", share("care_act_assessment_referral", status=status,
                                             rejection_reason="Not eligible")))
    closed = share("care_plan", items=("person", "episode", "care_team", "care_plan"))
    closed["share"]["content"]["episode"].update(status="closed", care_level="non_cpa",
                                                 closed_at="2026-11-01T09:00:00Z")
    closed["share"]["content"]["care_plan"].update(status="superseded")
    out.append(("closed episode, superseded plan", closed))
    for status in ("proposed", "accepted", "rejected", "completed", "cancelled"):
        s = share("transfer", status="rejected" if status == "rejected" else "sent",
                  rejection_reason="No capacity")
        s["share"]["content"]["transfer"]["status"] = status
        out.append((f"transfer {status}", s))
    for status in ("received", "triaged", "accepted", "declined", "redirected", "withdrawn"):
        for urgency in ("emergency", "urgent", "routine"):
            out.append((f"referral {status} {urgency}",
                        referral(status, urgency, decision_reason="Reason text",
                                 redirected_to="Another team")))
    out.append(("referral with no reference", referral(external_reference=None)))
    return out


def render(inputs):
    program = os.environ.get("CARECOORD_FHIR_SAMPLES")
    if not program or not Path(program).is_file():
        pytest.fail("CARECOORD_FHIR_SAMPLES must name the fhir_samples program (ctest sets it)",
                    pytrace=False)
    done = subprocess.run([program], input=json.dumps(inputs), capture_output=True, text=True,
                          timeout=120)
    hits = [m for m in SANITIZER_MARKERS if m in done.stderr]
    assert done.returncode == 0 and not hits, f"fhir_samples exited {done.returncode}:\n{done.stderr}"
    return json.loads(done.stdout)


def test_every_sample_renders_to_valid_fhir():
    named = samples()
    outputs = render([sample for _, sample in named])
    missing = [name for (name, _), output in zip(named, outputs) if output is None]
    assert not missing, f"rendered as NULL: {missing}"
    assert_valid_fhir(outputs)


def test_refused_inputs_render_as_null():
    no_person = share("care_act_assessment_referral", items=("needs_summary",))
    beyond_data_set = share("care_plan")
    beyond_data_set["share"]["data_set"].remove("carer")
    bad_instant = share("transfer", updated_at="2026-11-30 10:15:00+00")
    outputs = render([no_person, beyond_data_set, bad_instant, {"share": "x"},
                      referral(urgency="soon"), {"referral": {}}, copy.deepcopy(referral())])
    assert outputs[:6] == [None] * 6 and outputs[6] is not None
