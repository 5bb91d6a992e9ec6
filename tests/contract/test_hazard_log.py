"""The clinical hazard log (docs/clinical-safety/hazard-log.yaml) is complete, consistent and tied
to tests that exist: every hazard has every field; ids are unique; severities and likelihoods are
on the DCB0129 scale and each rating is the risk matrix's; every test a control names is defined
(a pytest function, or a C unit test defined and called from main); every rule id is a domain
rule that some test cites, and at least one of each control's own tests cites each rule it
names; every domain rule is controlled by a hazard or set aside with a reason; the safety case
names only hazards of the log, with their residual ratings; and hazard-log.md is what
scripts/hazard-log renders from the YAML.

Needs no database or service. CARECOORD_REPO (the repository root) is optional and defaults to
this file's repository.
"""

import ast
import importlib.machinery
import importlib.util
import os
import re
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

REPO = Path(os.environ.get("CARECOORD_REPO") or Path(__file__).resolve().parents[2])
LOG_YAML = REPO / "docs" / "clinical-safety" / "hazard-log.yaml"
LOG_MD = REPO / "docs" / "clinical-safety" / "hazard-log.md"
SAFETY_CASE = REPO / "docs" / "clinical-safety" / "safety-case.md"
RENDERER = REPO / "scripts" / "hazard-log"

HAZARD_ID = re.compile(r"^HAZ-\d{3}$")
RULE_ID = re.compile(r"^R-[A-Z]{3}-\d+$")
TEST_REF = re.compile(r"^(tests/(?:api|contract|unit)/test_\w+\.(?:py|c))::(test_\w+)$")
HAZARD_FIELDS = ("id", "title", "description", "causes", "effect", "initial", "controls",
                 "residual")
RISK_FIELDS = ("severity", "likelihood", "rating", "justification")
CONTROL_FIELDS = ("kind", "control", "rules", "tests")
# The issue that asked for this log names twelve hazards at least.
MINIMUM_HAZARDS = 12


def load_renderer():
    loader = importlib.machinery.SourceFileLoader("hazard_log_renderer", str(RENDERER))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def renderer():
    return load_renderer()


@pytest.fixture(scope="module")
def log():
    with open(LOG_YAML, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    assert isinstance(doc, dict), f"{LOG_YAML} is not a mapping"
    assert isinstance(doc.get("hazards"), list) and doc["hazards"], "the log has no hazards"
    assert isinstance(doc.get("domain_rules"), list) and doc["domain_rules"], \
        "the log does not list the domain rules"
    return doc


def hazards(log):
    return [h for h in log["hazards"] if isinstance(h, dict)]


def controls(hazard):
    return [c for c in hazard.get("controls") or [] if isinstance(c, dict)]


def blank(value):
    return value is None or (isinstance(value, str) and not value.strip()) or \
        (isinstance(value, (list, dict)) and not value)


def report(problems):
    assert not problems, f"{len(problems)} problem(s) in {LOG_YAML.relative_to(REPO)}:\n  " + \
        "\n  ".join(problems)


# -- what the tests define and cite ---------------------------------------------------------------


def cites(text, rule):
    """Whether text names the rule, as R-REF-1 in prose or r_ref_1 / R_REF_1 in a name."""
    _, area, number = rule.split("-")
    return re.search(rf"(?<![A-Za-z0-9])R[-_]{area}[-_]{number}(?![0-9])", text,
                     re.IGNORECASE) is not None


@lru_cache(maxsize=None)
def python_tests(path):
    """{name: source} of the test functions of a pytest file (module level, or in Test* classes)."""
    source = path.read_text(encoding="utf-8")
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            found[node.name] = ast.get_source_segment(source, node)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                        item.name.startswith("test"):
                    found[item.name] = ast.get_source_segment(source, item)
    return found


C_TEST = re.compile(r"^static\s+void\s+(test_\w+)\s*\(\s*void\s*\)\s*\{", re.MULTILINE)
C_COMMENT_BEFORE = re.compile(r"/\*(?:(?!\*/).)*\*/\s*$", re.DOTALL)
C_CALL = re.compile(r"\b(test_\w+)\s*\(\s*\)\s*;")


@lru_cache(maxsize=None)
def c_tests(path):
    """{name: source} of the C unit tests of a file: `static void test_x(void)` definitions that
    main() calls. The source runs to the closing brace in column 0, with any comment just above."""
    source = path.read_text(encoding="utf-8")
    main = re.search(r"^int\s+main\s*\(", source, re.MULTILINE)
    called = set(C_CALL.findall(source[main.start():])) if main else set()
    found = {}
    for match in C_TEST.finditer(source):
        end = source.find("\n}", match.end())
        body = source[match.start():end + 2 if end >= 0 else len(source)]
        comment = C_COMMENT_BEFORE.search(source[:match.start()])
        if comment:
            body = comment.group(0) + body
        if match.group(1) in called:
            found[match.group(1)] = body
    return found


def defined_tests(path):
    return python_tests(path) if path.suffix == ".py" else c_tests(path)


def resolve(ref):
    """(source of the named test, None), or (None, why it cannot be found)."""
    if not isinstance(ref, str):
        return None, f"{ref!r} is not a test name"
    match = TEST_REF.match(ref)
    if not match:
        return None, f"{ref!r} is not tests/<api|contract|unit>/test_<name>.<py|c>::test_<function>"
    path = REPO / match.group(1)
    if not path.is_file():
        return None, f"{ref}: no file {match.group(1)}"
    source = defined_tests(path).get(match.group(2))
    if source is None:
        kind = "test function" if path.suffix == ".py" else \
            "`static void test_...(void)` called from main"
        return None, f"{ref}: {match.group(1)} has no {kind} named {match.group(2)}"
    return source, None


@lru_cache(maxsize=None)
def repo_test_texts():
    """The text of every test file of the repository but this one."""
    files = sorted(REPO.glob("tests/api/test_*.py")) + sorted(REPO.glob("tests/contract/test_*.py")) \
        + sorted(REPO.glob("tests/unit/test_*.c"))
    me = Path(__file__).resolve()
    return tuple((f.relative_to(REPO).as_posix(), f.read_text(encoding="utf-8"))
                 for f in files if f.resolve() != me)


def cited_anywhere(rule):
    return any(cites(text, rule) for _, text in repo_test_texts())


# -- the checks -----------------------------------------------------------------------------------


def test_the_log_has_at_least_the_hazards_asked_for(log):
    assert len(log["hazards"]) >= MINIMUM_HAZARDS, \
        f"{len(log['hazards'])} hazards; the log must keep at least {MINIMUM_HAZARDS}"


def test_every_hazard_has_every_required_field(log):
    problems = []
    for n, h in enumerate(log["hazards"], 1):
        if not isinstance(h, dict):
            problems.append(f"hazard #{n} is not a mapping")
            continue
        name = h.get("id") or f"hazard #{n}"
        for field in HAZARD_FIELDS:
            if blank(h.get(field)):
                problems.append(f"{name}: {field} is missing or empty")
        if not isinstance(h.get("causes"), list) or any(blank(c) for c in h.get("causes") or []):
            problems.append(f"{name}: causes must be a list of non-empty items")
        for phase in ("initial", "residual"):
            assessment = h.get(phase)
            if not isinstance(assessment, dict):
                continue
            for field in RISK_FIELDS:
                if blank(assessment.get(field)):
                    problems.append(f"{name}: {phase}.{field} is missing or empty")
        if not isinstance(h.get("controls"), list):
            continue
        for k, c in enumerate(h["controls"], 1):
            if not isinstance(c, dict):
                problems.append(f"{name}: control {k} is not a mapping")
                continue
            for field in CONTROL_FIELDS:
                if field not in c or (field != "rules" and blank(c[field])):
                    problems.append(f"{name}: control {k} has no {field}")
            if not isinstance(c.get("rules", []), list):
                problems.append(f"{name}: control {k}: rules must be a list (may be empty)")
    report(problems)


def test_hazard_ids_are_unique_and_well_formed(log):
    problems, seen = [], set()
    for h in hazards(log):
        hid = h.get("id")
        if not isinstance(hid, str) or not HAZARD_ID.match(hid):
            problems.append(f"{hid!r} is not an id of the form HAZ-001")
        elif hid in seen:
            problems.append(f"{hid} is used by more than one hazard")
        seen.add(hid)
    report(problems)


def test_severity_and_likelihood_are_on_the_scale_and_each_rating_is_the_matrix(log, renderer):
    problems = []
    for h in hazards(log):
        ratings = {}
        for phase in ("initial", "residual"):
            a = h.get(phase)
            if not isinstance(a, dict):
                continue
            severity, likelihood = a.get("severity"), a.get("likelihood")
            if severity not in renderer.SEVERITIES:
                problems.append(f"{h.get('id')}: {phase} severity {severity!r} is not one of "
                                f"{', '.join(renderer.SEVERITIES)}")
            if likelihood not in renderer.LIKELIHOODS:
                problems.append(f"{h.get('id')}: {phase} likelihood {likelihood!r} is not one of "
                                f"{', '.join(renderer.LIKELIHOODS)}")
            if severity in renderer.SEVERITIES and likelihood in renderer.LIKELIHOODS:
                expected = renderer.rating(severity, likelihood)
                if a.get("rating") != expected:
                    problems.append(f"{h.get('id')}: {phase} rating {a.get('rating')!r}, but "
                                    f"{severity} x {likelihood} is {expected} on the matrix")
                ratings[phase] = expected
        if len(ratings) == 2 and ratings["residual"] > ratings["initial"]:
            problems.append(f"{h.get('id')}: the residual risk ({ratings['residual']}) is above "
                            f"the initial risk ({ratings['initial']})")
    report(problems)


def test_every_control_is_of_a_known_kind(log, renderer):
    report([f"{h.get('id')}: control kind {c.get('kind')!r} is not one of "
            f"{', '.join(renderer.CONTROL_KINDS)}"
            for h in hazards(log) for c in controls(h) if c.get("kind") not in renderer.CONTROL_KINDS])


def test_every_test_named_exists(log):
    problems = []
    for h in hazards(log):
        for c in controls(h):
            for ref in c.get("tests") or []:
                _, why = resolve(ref)
                if why:
                    problems.append(f"{h.get('id')}: {why}")
    report(problems)


def test_the_domain_rules_listed_are_well_formed_and_each_is_cited_by_a_test(log):
    problems, seen = [], set()
    for rule in log["domain_rules"]:
        if not isinstance(rule, str) or not RULE_ID.match(rule):
            problems.append(f"domain rule {rule!r} is not an id of the form R-ABC-1")
            continue
        if rule in seen:
            problems.append(f"domain rule {rule} is listed twice")
        seen.add(rule)
        if not cited_anywhere(rule):
            problems.append(f"domain rule {rule}: no test in tests/ cites it")
    report(problems)


def test_every_rule_a_hazard_names_is_a_domain_rule_cited_by_a_test(log):
    problems = []
    domain = set(log["domain_rules"])
    for h in hazards(log):
        for c in controls(h):
            for rule in c.get("rules") or []:
                if rule not in domain:
                    problems.append(f"{h.get('id')}: {rule!r} is not one of the domain rules")
                elif not cited_anywhere(rule):
                    problems.append(f"{h.get('id')}: no test in tests/ cites {rule}")
    report(problems)


def test_each_control_names_a_test_that_cites_each_of_its_rules(log):
    """The evidence for a rule is a test about that rule: among the tests a control names, at
    least one cites (in its name, docstring, body or, in C, the comment above it) each rule the
    control names."""
    problems = []
    for h in hazards(log):
        for k, c in enumerate(controls(h), 1):
            sources = [resolve(ref)[0] for ref in c.get("tests") or []]
            sources = [s for s in sources if s]
            for rule in c.get("rules") or []:
                if not any(cites(s, rule) for s in sources):
                    problems.append(f"{h.get('id')}: control {k} names {rule} but none of its "
                                    f"tests cites it")
    report(problems)


def test_every_domain_rule_is_controlled_by_a_hazard_or_set_aside_with_a_reason(log):
    problems = []
    domain = set(log["domain_rules"])
    set_aside = log.get("not_safety_relevant") or {}
    if not isinstance(set_aside, dict):
        report(["not_safety_relevant must map rule ids to reasons"])
    controlled = {rule for h in hazards(log) for c in controls(h) for rule in c.get("rules") or []}
    for rule in log["domain_rules"]:
        if rule in controlled and rule in set_aside:
            problems.append(f"{rule} is controlled by a hazard and also set aside as not "
                            f"safety-relevant")
        elif rule not in controlled and rule not in set_aside:
            problems.append(f"{rule} is controlled by no hazard and not set aside as not "
                            f"safety-relevant (with a reason)")
    for rule, reason in set_aside.items():
        if rule not in domain:
            problems.append(f"not_safety_relevant names {rule!r}, which is not a domain rule")
        if blank(reason):
            problems.append(f"not_safety_relevant: {rule} has no reason")
    report(problems)


def test_the_safety_case_names_only_hazards_of_the_log_and_their_residual_ratings(log):
    text = SAFETY_CASE.read_text(encoding="utf-8")
    known = {h.get("id") for h in hazards(log)}
    unknown = sorted(set(re.findall(r"HAZ-\d{3}", text)) - known)
    assert not unknown, f"{SAFETY_CASE.relative_to(REPO)} names hazards not in the log: {unknown}"
    # Its residual risk table: "| 3 | HAZ-001, HAZ-002 |".
    stated = {}
    for rating, ids in re.findall(r"^\| ([1-5]) \| ((?:HAZ-\d{3}(?:, )?)+) \|$", text, re.MULTILINE):
        for hid in ids.split(", "):
            stated[hid] = int(rating)
    actual = {h.get("id"): (h.get("residual") or {}).get("rating") for h in hazards(log)}
    assert stated == actual, (
        f"the residual risk table of {SAFETY_CASE.relative_to(REPO)} does not match the log: "
        f"{sorted(set(stated.items()) ^ set(actual.items()))}")


def test_the_rendered_markdown_is_up_to_date(log, renderer):
    rendered = renderer.render(log)
    current = LOG_MD.read_text(encoding="utf-8") if LOG_MD.exists() else ""
    assert current == rendered, (
        f"{LOG_MD.relative_to(REPO)} is not what {LOG_YAML.relative_to(REPO)} renders to: run "
        f"scripts/hazard-log and commit the result")
