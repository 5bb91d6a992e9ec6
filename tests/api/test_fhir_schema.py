"""The FHIR schema check itself (tests/support/fhir_schema.py): it accepts valid R4 and refuses
invalid R4, so that a validator that passes everything cannot pass for a check. No database."""

import copy

from fhir_schema import assert_valid_fhir, fhir_schema_errors

PATIENT = {
    "resourceType": "Patient",
    "id": "0b0f9d0e-5a55-4a39-9d36-3c2a1f0c7a11",
    "meta": {"versionId": "1", "lastUpdated": "2026-11-30T10:15:00.123456+00:00"},
    "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}],
    "name": [{"family": "Smith", "given": ["Ann"]}],
    "gender": "female",
    "birthDate": "1980-01-02",
}


def bundle_of(*resources):
    return {
        "resourceType": "Bundle",
        "id": "5d3c3f7e-1a2b-4c5d-8e9f-0a1b2c3d4e5f",
        "type": "collection",
        "timestamp": "2026-11-30T10:15:00+00:00",
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }


def test_valid_resources_pass():
    assert_valid_fhir(PATIENT)
    assert_valid_fhir(bundle_of(PATIENT))
    assert_valid_fhir([PATIENT, bundle_of(PATIENT)])


def test_a_code_outside_its_value_set_fails():
    patient = dict(PATIENT, gender="x")
    errors = fhir_schema_errors(patient)
    assert errors and errors[0].startswith(".gender:"), errors


def test_a_bad_resource_inside_a_bundle_fails_and_is_named():
    bad = dict(PATIENT, birthDate="30/11/1980")
    errors = fhir_schema_errors(bundle_of(PATIENT, dict(bad, id="other")))
    assert errors == [errors[0]] and errors[0].startswith(".entry[1].resource.birthDate:"), errors


def test_unknown_members_types_and_instants_fail():
    unknown_member = dict(PATIENT, nhs_number="9434765919")
    wrong_type = dict(PATIENT, name={"family": "Smith"})
    no_time_zone = copy.deepcopy(PATIENT)
    no_time_zone["meta"]["lastUpdated"] = "2026-11-30T10:15:00"
    errors = fhir_schema_errors([unknown_member, wrong_type, no_time_zone, {"resourceType": "Nope"}])
    for index in range(4):
        assert any(e.startswith(f"[{index}]") for e in errors), (index, errors)
