"""api/openapi.yaml must pass scripts/lint-openapi (Redocly CLI pinned in package.json; `npm ci`
installs it). CARECOORD_REPO (repository root) is optional and defaults to this file's repository.
"""

import os
import subprocess
from pathlib import Path

REPO = Path(os.environ.get("CARECOORD_REPO") or Path(__file__).resolve().parents[2])


def test_openapi_lint_passes():
    script = REPO / "scripts" / "lint-openapi"
    assert os.access(script, os.X_OK), f"{script} is missing or not executable"
    proc = subprocess.run([str(script)], cwd=REPO, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, (
        f"scripts/lint-openapi exited {proc.returncode}\n"
        f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
