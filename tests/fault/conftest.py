"""Fixtures for the fault tests live in tests/support/carecoord.py; this makes them visible."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))

from carecoord import (  # noqa: E402,F401  (fixtures are found by name)
    api,
    database,
    db,
    private_cluster,
    service,
    service_factory,
    test_env,
)
