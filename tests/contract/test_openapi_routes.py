"""The OpenAPI document (api/openapi.yaml) must match the binary's route table and follow the
project's conventions for operations and request bodies.

Needs CARECOORD_BIN (absolute path of the carecoord binary) for the route comparison;
CARECOORD_REPO (repository root) is optional and defaults to this file's repository.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(os.environ.get("CARECOORD_REPO") or Path(__file__).resolve().parents[2])
SPEC_PATH = REPO / "api" / "openapi.yaml"

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ROUTE_LINE = re.compile(r"^([A-Z]+) (/\S*)$")
PROBLEM_MEDIA_TYPE = "application/problem+json"


def load_spec():
    with open(SPEC_PATH, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    assert isinstance(doc, dict) and isinstance(doc.get("paths"), dict), \
        f"{SPEC_PATH} is not an OpenAPI document with paths"
    return doc


@pytest.fixture(scope="module")
def spec():
    return load_spec()


def resolve(doc, node):
    """Follow local $refs ("#/a/b") until reaching a node that is not a reference."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert isinstance(ref, str) and ref.startswith("#/"), f"only local $refs are supported: {ref!r}"
        assert ref not in seen, f"circular $ref {ref}"
        seen.add(ref)
        node = doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            assert isinstance(node, dict) and part in node, f"unresolvable $ref {ref}"
            node = node[part]
    return node


def operations(doc):
    """Yield (METHOD, path, operation) for every operation in the document."""
    for path, item in doc["paths"].items():
        item = resolve(doc, item)
        for method in HTTP_METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def test_routes_match_binary():
    binary = os.environ.get("CARECOORD_BIN")
    if not binary:
        pytest.fail("CARECOORD_BIN is not set: export it as the absolute path of the carecoord "
                    "binary (scripts/test and ctest do this) to compare its routes with the spec")
    if not os.path.isabs(binary):
        pytest.fail(f"CARECOORD_BIN must be an absolute path, got {binary!r}")
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        pytest.fail(f"CARECOORD_BIN={binary} is not an executable file")

    proc = subprocess.run([binary, "routes"], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, (
        f"`{binary} routes` exited {proc.returncode}\n"
        f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")

    bad_lines = []
    duplicates = []
    binary_routes = set()
    for number, line in enumerate(proc.stdout.splitlines(), 1):
        m = ROUTE_LINE.match(line)
        if not m or m.group(1).lower() not in HTTP_METHODS:
            bad_lines.append(f"  line {number}: {line!r}")
            continue
        route = (m.group(1), m.group(2))
        if route in binary_routes:
            duplicates.append(f"  {route[0]} {route[1]}")
        binary_routes.add(route)

    spec_routes = {(method, path) for method, path, _ in operations(load_spec())}

    def listing(routes):
        return "\n".join(f"  {method} {path}" for method, path in sorted(routes, key=lambda r: (r[1], r[0])))

    problems = []
    if bad_lines:
        problems.append("lines of `carecoord routes` that are not `METHOD /path`:\n" + "\n".join(bad_lines))
    if duplicates:
        problems.append("routes printed more than once:\n" + "\n".join(duplicates))
    if binary_routes - spec_routes:
        problems.append(f"routes served by the binary but missing from {SPEC_PATH.name}:\n"
                        + listing(binary_routes - spec_routes))
    if spec_routes - binary_routes:
        problems.append(f"operations in {SPEC_PATH.name} that the binary does not serve:\n"
                        + listing(spec_routes - binary_routes))
    assert not problems, "\n\n".join(problems)


def test_operations_follow_conventions(spec):
    problems = []
    for method, path, op in operations(spec):
        where = f"{method} {path}"

        public = op.get("security") == []
        roles = op.get("x-roles")
        if roles is None and not public:
            problems.append(f"{where}: needs `x-roles` (or `security: []` if it is public)")
        elif roles is not None and not (
                isinstance(roles, list) and roles and all(isinstance(r, str) and r for r in roles)):
            problems.append(f"{where}: `x-roles` must be a non-empty list of role names, got {roles!r}")

        responses = op.get("responses") or {}
        codes = [str(code) for code in responses]
        if not any(code.startswith("2") for code in codes):
            problems.append(f"{where}: has no 2xx response")

        for code, response in responses.items():
            code = str(code)
            if not (code[0] in "45" or code == "default"):
                continue
            content = resolve(spec, response).get("content") or {}
            media_types = sorted(content)
            if media_types != [PROBLEM_MEDIA_TYPE]:
                problems.append(f"{where}: response {code} must be {PROBLEM_MEDIA_TYPE} only, "
                                f"declares {media_types or 'no content'}")
    assert not problems, "\n".join(problems)


def _is_object_schema(schema):
    declared = schema.get("type")
    types = declared if isinstance(declared, list) else [declared]
    return "object" in types or "properties" in schema or "patternProperties" in schema


def _open_objects(doc, schema, where, seen):
    """Return the locations of object schemas (at any depth) that allow unknown properties."""
    schema = resolve(doc, schema)
    if not isinstance(schema, dict) or id(schema) in seen:
        return []
    seen.add(id(schema))
    found = []
    if _is_object_schema(schema) and schema.get("additionalProperties") is not False \
            and schema.get("unevaluatedProperties") is not False:
        found.append(where)
    for name, sub in (schema.get("properties") or {}).items():
        found += _open_objects(doc, sub, f"{where}/properties/{name}", seen)
    for key in ("items", "additionalProperties", "unevaluatedProperties", "not"):
        if isinstance(schema.get(key), dict):
            found += _open_objects(doc, schema[key], f"{where}/{key}", seen)
    for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
        for index, sub in enumerate(schema.get(key) or []):
            found += _open_objects(doc, sub, f"{where}/{key}/{index}", seen)
    return found


def test_json_request_bodies_reject_unknown_fields(spec):
    problems = []
    checked = 0
    for method, path, op in operations(spec):
        if "requestBody" not in op:
            continue
        body = resolve(spec, op["requestBody"])
        for media_type, media in (body.get("content") or {}).items():
            if not (media_type == "application/json" or media_type.endswith("+json")):
                continue
            checked += 1
            where = f"{method} {path} ({media_type})"
            schema = resolve(spec, (media or {}).get("schema"))
            if not isinstance(schema, dict) or not _is_object_schema(schema):
                problems.append(f"{where}: body schema must be a JSON object schema")
                continue
            for location in _open_objects(spec, schema, "schema", set()):
                problems.append(f"{where}: {location} allows additional properties "
                                "(set `additionalProperties: false`)")
    assert checked, "no JSON request bodies found in the spec"
    assert not problems, "\n".join(problems)
