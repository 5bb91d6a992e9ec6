"""FHIR R4 schema checks for the tests: tests/support/validate-fhir.js run with node (its schema
comes with the npm dev dependencies: `npm ci`).

    from fhir_schema import assert_valid_fhir, fhir_schema_errors
    assert_valid_fhir(bundle)              # or a list of resources, validated in one node run

The repository root is CARECOORD_REPO, or else this file's repository. Needs no database.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(os.environ.get("CARECOORD_REPO") or Path(__file__).resolve().parents[2])
SCRIPT = REPO / "tests" / "support" / "validate-fhir.js"
VALIDATOR_TIMEOUT_S = 120  # compiling the whole R4 schema takes a few seconds under load


def fhir_schema_errors(document):
    """The schema's errors for a resource or a list of resources ("<path>: <message>" each);
    an empty list when all are valid. Fails the test when the validator cannot run."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (needed for the FHIR schema checks)", pytrace=False)
    done = subprocess.run(
        [node, str(SCRIPT)],
        input=json.dumps(document),
        capture_output=True,
        text=True,
        timeout=VALIDATOR_TIMEOUT_S,
        cwd=REPO,
    )
    if done.returncode not in (0, 1) or (done.returncode == 1 and not done.stdout.strip()):
        pytest.fail(
            f"validate-fhir.js exited {done.returncode} (is node_modules installed? run `npm ci`):\n"
            f"{done.stderr}",
            pytrace=False,
        )
    return done.stdout.splitlines() if done.returncode == 1 else []


def assert_valid_fhir(document):
    """Fails the test, listing the errors, unless document (a resource or a list of resources)
    is valid FHIR R4 JSON."""
    errors = fhir_schema_errors(document)
    assert not errors, "not valid FHIR R4:\n" + "\n".join(errors)
