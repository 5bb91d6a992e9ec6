"""The API reference at GET /docs: Redoc (the npm package's standalone bundle) rendering
api/openapi.yaml, both served by the service itself, public, with a Content-Security-Policy
that allows nothing but the service's own URLs.

The last test opens the page in a real browser (Debian's headless chromium) and checks that the
rendered reference lists every operation of api/openapi.yaml. The browser is kept off every
network but loopback: host names do not resolve, and everything but loopback goes to a "proxy"
that is a socket of this test's, which records the attempt and answers nothing. Chromium makes
a few requests of its own there (component updates, Google accounts) whatever its flags; the
page itself may make none (its Content-Security-Policy would refuse them, and the test checks
the browser's log for refusals).
"""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest
import yaml

from carecoord import assert_problem, assert_security_headers, log_lines

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src data:; "
            "connect-src 'self'; worker-src blob:; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")
# Redoc renders each operation's method and path side by side in its header, e.g.
# <span type="get" class="... http-verb get">get</span><span class="...">/teams/{id}</span>
OPERATION_HEADER = re.compile(
    r'<span type="([a-z]+)" class="[^"]*\bhttp-verb\b[^"]*">[a-z]+</span><span[^>]*>([^<]+)</span>')
# Rendering the whole reference (some 90 operations) takes chromium well under a minute of CPU;
# the budget is virtual time, which only runs while the page is idle.
VIRTUAL_TIME_BUDGET_MS = 60000
CHROMIUM_TIMEOUT_S = 300
# Chromium's own background services that would otherwise call Google while the page renders.
CHROMIUM_SERVICES_OFF = (
    "OptimizationHints", "OptimizationGuideModelDownloading", "OptimizationHintsFetching",
    "OptimizationTargetPrediction", "AutofillServerCommunication", "NetworkTimeServiceQuerying",
    "MediaRouter", "Translate", "CertificateTransparencyComponentUpdater")
# What the page could have asked another origin for (a CDN, web fonts, Redocly's logo).
PAGE_RESOURCE_HOSTS = re.compile(r"redoc|fonts\.|jsdelivr|unpkg|cdnjs", re.I)


def repo_file(test_env, *parts):
    with open(os.path.join(test_env.repo, *parts), "rb") as f:
        return f.read()


def spec_operations(text):
    doc = yaml.safe_load(text)
    return {(method.upper(), path) for path, item in doc["paths"].items()
            for method in HTTP_METHODS if method in item}


@pytest.fixture(scope="module")
def anonymous(service):
    with service.api(token=None) as session:
        yield session


# -- what the service serves ----------------------------------------------------------------------


def test_docs_page_is_public_html_with_a_strict_csp(anonymous):
    r = anonymous.get("/docs")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert r.headers.get("Content-Security-Policy") == DOCS_CSP
    assert r.headers.get("X-Frame-Options") == "DENY"
    assert r.headers.get("Referrer-Policy") == "no-referrer"
    assert_security_headers(r)
    page = r.text
    assert '<redoc spec-url="docs/openapi.yaml"></redoc>' in page
    assert '<script src="docs/redoc.standalone.js"></script>' in page
    # Only the service's own URLs (relative ones), no inline script.
    urls = re.findall(r'(?:src|href|spec-url)="([^"]*)"', page)
    assert urls and all(not re.match(r"^[a-z]+:|^//", u, re.I) for u in urls), urls
    assert re.findall(r"<script\b[^>]*>", page) == ['<script src="docs/redoc.standalone.js">']


def test_redoc_bundle_is_the_one_installed_from_npm(anonymous, test_env):
    r = anonymous.get("/docs/redoc.standalone.js")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert_security_headers(r)
    bundle = repo_file(test_env, "node_modules", "redoc", "bundles", "redoc.standalone.js")
    assert int(r.headers["Content-Length"]) == len(bundle)
    assert r.content == bundle


def test_openapi_document_is_the_one_in_the_repository(anonymous, test_env):
    r = anonymous.get("/docs/openapi.yaml")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/yaml"
    assert_security_headers(r)
    assert r.content == repo_file(test_env, "api", "openapi.yaml")
    operations = spec_operations(r.content)
    for path in ("/docs", "/docs/redoc.standalone.js", "/docs/openapi.yaml"):
        assert ("GET", path) in operations
    # The policy the document promises is the one served.
    headers = yaml.safe_load(r.content)["components"]["headers"]
    assert headers["Docs-Content-Security-Policy"]["schema"]["const"] == DOCS_CSP


def test_head_of_the_docs_has_no_body(anonymous):
    r = anonymous.head("/docs/redoc.standalone.js")
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["Content-Length"]) > 100000


@pytest.mark.parametrize("path", ["/docs/", "/docs/index.html", "/docs/redoc.standalone.js.map"])
def test_nothing_else_is_served_under_docs(anonymous, path):
    assert_problem(anonymous.get(path), 404, "not-found")


def test_docs_are_read_only(anonymous):
    r = anonymous.post("/docs/openapi.yaml", data=b"{}", headers={"Content-Type": "application/json"})
    assert_problem(r, 405, "method-not-allowed")
    assert r.headers.get("Allow") == "GET"


def test_docs_take_no_query_parameters(anonymous):
    assert_problem(anonymous.get("/docs", params={"x": "1"}), 400, "bad-request")


# -- in a browser ---------------------------------------------------------------------------------


class ProxyTrap:
    """A listening socket given to chromium as its proxy: every connection it gets is a request
    for something other than loopback (chromium never proxies loopback), recorded here."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                conn.settimeout(2)
                try:
                    first = conn.recv(1024).split(b"\r\n", 1)[0]
                except OSError:
                    first = b"?"
                self.requests.append(first.decode("latin-1"))

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def run_chromium(url, work):
    """chromium's DOM of url after rendering, its log, the attempts to leave loopback and how
    long it took."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed (it is listed in scripts/deps-debian.txt)",
                    pytrace=False)
    trap = ProxyTrap()
    args = [
        chromium,
        "--headless",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={work}/profile",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-sync",
        "--disable-breakpad",
        "--disable-client-side-phishing-detection",
        "--disable-domain-reliability",
        "--disable-field-trial-config",
        "--no-pings",
        "--metrics-recording-only",
        "--safebrowsing-disable-auto-update",
        "--password-store=basic",
        "--disable-features=" + ",".join(CHROMIUM_SERVICES_OFF),
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--proxy-server=http://127.0.0.1:{trap.port}",
        "--enable-logging=stderr",
        "--v=0",
        f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
        "--dump-dom",
        url,
    ]
    if os.geteuid() == 0:
        args.insert(1, "--no-sandbox")  # chromium refuses to run as root with its sandbox
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARECOORD_")}
    env.update(HOME=work, XDG_CONFIG_HOME=f"{work}/config", XDG_CACHE_HOME=f"{work}/cache")
    started = time.monotonic()
    try:
        done = subprocess.run(args, capture_output=True, text=True, env=env,
                              timeout=CHROMIUM_TIMEOUT_S, stdin=subprocess.DEVNULL)
    finally:
        trap.close()
    return done, trap.requests, time.monotonic() - started


def test_chromium_renders_every_operation(service, test_env):
    with tempfile.TemporaryDirectory(prefix="carecoord-chromium-") as work:
        done, escapes, seconds = run_chromium(f"{service.base_url}/docs", work)
    log = done.stderr
    assert done.returncode == 0, f"chromium exited {done.returncode}:\n{log[-4000:]}"
    dom = done.stdout
    print(f"chromium rendered /docs in {seconds:.1f}s ({len(dom)} characters of DOM)")

    # Nothing left loopback (the trap took it); none of it was for the page.
    print("chromium's own requests, kept on loopback:", escapes)
    page_escapes = [line for line in escapes if PAGE_RESOURCE_HOSTS.search(line)]
    assert not page_escapes, f"the page asked another origin for: {page_escapes}"

    rendered = {(method.upper(), path) for method, path in OPERATION_HEADER.findall(dom)}
    expected = spec_operations(repo_file(test_env, "api", "openapi.yaml"))
    missing = sorted(expected - rendered, key=lambda op: (op[1], op[0]))
    assert not missing, (
        f"{len(missing)} of {len(expected)} operations are not in the rendered reference "
        f"(chromium took {seconds:.0f}s): {missing[:10]}\n--- chromium log ---\n{log[-3000:]}")
    assert rendered <= expected, sorted(rendered - expected)

    # The policy blocks nothing Redoc needs: the only refusal allowed is the Redocly logo, which
    # Redoc leaves out when it cannot load it.
    refusals = [line for line in log.splitlines() if "Content Security Policy" in line]
    unexpected = [line for line in refusals if "cdn.redoc.ly/redoc/logo-mini.svg" not in line]
    assert not unexpected, "\n".join(unexpected)
    assert "Uncaught" not in log, log[-3000:]

    # The page, the bundle and the document all came from the service.
    served = {(line.get("route"), line.get("status")) for line in log_lines(service.stderr_text())
              if line.get("msg") == "request"}
    for route in ("/docs", "/docs/redoc.standalone.js", "/docs/openapi.yaml"):
        assert (route, 200) in served, sorted(served)
