"""HTTPS served by the service itself (CARECOORD_TLS_CERT_FILE and CARECOORD_TLS_KEY_FILE).

A CA and a server certificate for 127.0.0.1 (subjectAltName IP:127.0.0.1) are made with the
openssl command in a temporary directory when the module starts; nothing is committed. Real
clients check them: curl (OpenSSL) with certificate verification on, and Python's requests.
"""

import json
import os
import re
import socket
import subprocess
import time

import pytest
import requests

from carecoord import (
    HTTP_TIMEOUT_S,
    assert_no_sanitizer_report,
    free_port,
    log_lines,
    run_binary,
    team_payload,
)

CURL_TIMEOUT_S = 60
# curl's exit codes (man curl): connect/handshake failures and certificate verification.
CURL_SSL_CONNECT_ERROR = 35
CURL_PEER_FAILED_VERIFICATION = 60

SERVER_EXTENSIONS = """\
subjectAltName = IP:127.0.0.1
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
"""


def openssl(*args, cwd, input_text=None):
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, input=input_text)
    assert done.returncode == 0, f"openssl {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


class Pki:
    """A throwaway CA, a server certificate it signed for 127.0.0.1 and the server's key."""

    def __init__(self, directory):
        self.dir = str(directory)
        d = self.dir
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                "-subj", "/CN=carecoord test CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        # RSA, so that refusing TLS 1.2's static RSA key exchange is the server's choice and not
        # merely impossible with the key.
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
                "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=d)
        with open(os.path.join(d, "server.ext"), "w", encoding="ascii") as f:
            f.write(SERVER_EXTENSIONS)
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext",
                cwd=d)
        # Another key (not the certificate's) and the server key under a passphrase.
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-out", "other.key", cwd=d)
        openssl("pkey", "-in", "server.key", "-aes256", "-passout", "pass:secret",
                "-out", "encrypted.key", cwd=d)
        # A self-signed certificate of that other key, for the same address.
        openssl("req", "-x509", "-key", "other.key", "-out", "other.pem", "-days", "2",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", cwd=d)

    def path(self, name):
        return os.path.join(self.dir, name)

    @property
    def ca(self):
        return self.path("ca.pem")

    def env(self, cert="server.pem", key="server.key"):
        return {"CARECOORD_TLS_CERT_FILE": self.path(cert) if cert else None,
                "CARECOORD_TLS_KEY_FILE": self.path(key) if key else None}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_service(service_factory, pki):
    return service_factory.start(env=pki.env(), scheme="https", ca_file=pki.ca)


def curl(*args, timeout=CURL_TIMEOUT_S):
    """curl with the given arguments; (exit code, stdout, stderr)."""
    done = subprocess.run(["curl", "--silent", "--show-error", "--max-time", str(timeout), *args],
                          capture_output=True, text=True, timeout=timeout + 30)
    return done.returncode, done.stdout, done.stderr


def negotiated(stderr):
    """(protocol, cipher) from curl --verbose, e.g. ('TLSv1.3', 'TLS_AES_256_GCM_SHA384')."""
    m = re.search(r"SSL connection using (\S+) / (\S+)", stderr)
    assert m, f"curl did not report the TLS connection:\n{stderr}"
    return m.group(1), m.group(2)


# -- a verifying client ---------------------------------------------------------------------------


def test_curl_verifying_the_certificate_gets_healthz(tls_service, pki):
    rc, out, err = curl("--verbose", "--cacert", pki.ca, "--include",
                        f"https://127.0.0.1:{tls_service.port}/healthz")
    assert rc == 0, err
    assert out.startswith("HTTP/1.1 200"), out
    assert out.rstrip().endswith('{"status":"ok"}'), out
    assert "SSL certificate verify ok" in err, err
    assert re.search(r"^strict-transport-security: max-age=31536000\s*$", out, re.I | re.M), out
    assert re.search(r"^x-content-type-options: nosniff\s*$", out, re.I | re.M), out


def test_curl_without_the_ca_refuses_the_certificate(tls_service):
    rc, _, err = curl(f"https://127.0.0.1:{tls_service.port}/healthz")
    assert rc == CURL_PEER_FAILED_VERIFICATION, (rc, err)
    assert "certificate" in err.lower(), err


def test_the_certificate_names_only_the_address_it_was_made_for(tls_service, pki):
    # Same server, reached under a name the certificate does not carry: verification fails.
    port = tls_service.port
    rc, _, err = curl("--cacert", pki.ca, "--resolve", f"carecoord.invalid:{port}:127.0.0.1",
                      f"https://carecoord.invalid:{port}/healthz")
    assert rc == CURL_PEER_FAILED_VERIFICATION, (rc, err)


def test_requests_verifies_with_the_ca_and_refuses_without(tls_service, pki):
    url = f"https://127.0.0.1:{tls_service.port}/healthz"
    r = requests.get(url, verify=pki.ca, timeout=HTTP_TIMEOUT_S)
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url, timeout=HTTP_TIMEOUT_S)  # the system's CAs only


# -- protocol versions and ciphers ----------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_tls_1_2_and_1_3_are_served(tls_service, pki, version):
    rc, out, err = curl("--verbose", "--cacert", pki.ca, f"--tlsv{version}",
                        "--tls-max", version, f"https://127.0.0.1:{tls_service.port}/healthz")
    assert rc == 0, err
    protocol, cipher = negotiated(err)
    assert protocol == f"TLSv{version}", err
    assert "GCM" in cipher or "CHACHA20" in cipher, cipher


@pytest.fixture(scope="module")
def legacy_control(pki):
    """An `openssl s_server` that accepts TLS 1.0 and 1.1: proves that the client below can speak
    them, so that the service refusing them is the service's doing. (OpenSSL 3 clients refuse
    TLS below 1.2 unless the security level is lowered to 0.)"""
    port = free_port()
    proc = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", pki.path("server.pem"),
         "-key", pki.path("server.key"), "-cipher", "DEFAULT:@SECLEVEL=0", "-www"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < end, "s_server did not start"
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


LEGACY = ["--ciphers", "DEFAULT:@SECLEVEL=0"]


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_tls_below_1_2_is_refused(tls_service, pki, legacy_control, version):
    args = ["--verbose", "--cacert", pki.ca, f"--tlsv{version}", "--tls-max", version, *LEGACY]
    rc, _, err = curl(*args, f"https://127.0.0.1:{legacy_control}/")
    assert rc == 0, f"control: this curl cannot speak TLS {version} at all:\n{err}"
    assert negotiated(err)[0] == {"1.0": "TLSv1", "1.1": "TLSv1.1"}[version], err

    rc, out, err = curl(*args, f"https://127.0.0.1:{tls_service.port}/healthz")
    # The service ends the handshake (libmicrohttpd closes the connection without an alert).
    assert rc == CURL_SSL_CONNECT_ERROR, (rc, out, err)
    assert "SSL connection using" not in err and not out, err


def test_tls_1_2_without_forward_secrecy_or_with_cbc_is_refused(tls_service, pki):
    url = f"https://127.0.0.1:{tls_service.port}/healthz"
    base = ["--cacert", pki.ca, "--tlsv1.2", "--tls-max", "1.2"]
    rc, _, err = curl(*base, "--ciphers", "ECDHE-RSA-AES128-GCM-SHA256", url)
    assert rc == 0, f"control: ECDHE with AES-GCM must be accepted:\n{err}"
    for cipher in ("AES128-GCM-SHA256", "ECDHE-RSA-AES128-SHA256"):  # static RSA; CBC
        rc, _, err = curl(*base, "--ciphers", cipher, url)
        assert rc == CURL_SSL_CONNECT_ERROR, (cipher, rc, err)


def test_plain_http_to_the_tls_port_gets_no_http_answer(tls_service):
    rc, out, err = curl("--include", f"http://127.0.0.1:{tls_service.port}/healthz")
    assert rc != 0 and not out, (rc, out, err)
    with socket.create_connection(("127.0.0.1", tls_service.port), timeout=HTTP_TIMEOUT_S) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        received = b""
        try:
            while chunk := s.recv(4096):
                received += chunk
        except ConnectionResetError:
            pass
    assert not received.startswith(b"HTTP/"), received[:200]
    assert tls_service.alive()


# -- the API over TLS -----------------------------------------------------------------------------


def test_api_calls_with_a_token_work_over_tls(tls_service, pki):
    with tls_service.api() as api:
        created = api.post("/teams", json=team_payload())
        assert created.status_code == 201, created.text
        team = created.json()
        r = api.get(f"/teams/{team['id']}")
        assert r.status_code == 200 and r.json()["id"] == team["id"]
        assert r.headers.get("Strict-Transport-Security") == "max-age=31536000"
        assert api.get("/teams", headers={"Authorization": None}).status_code == 401

    rc, out, err = curl("--cacert", pki.ca, "--fail", "-H",
                        f"Authorization: Bearer {tls_service.token}",
                        f"https://127.0.0.1:{tls_service.port}/teams/{team['id']}")
    assert rc == 0, err
    assert json.loads(out)["id"] == team["id"]


def test_plain_http_service_sends_no_hsts(api):
    r = api.get("/healthz")
    assert r.status_code == 200
    assert "Strict-Transport-Security" not in r.headers


def test_tls_service_logs_its_scheme(tls_service):
    listening = [line for line in log_lines(tls_service.stderr_text()) if line.get("msg") == "listening"]
    assert listening and listening[0].get("scheme") == "https", listening


# -- carecoord health (the container's health check) ------------------------------------------


def health(test_env, port, env):
    done = run_binary(test_env, ["health"], {"CARECOORD_LISTEN_ADDRESS": "0.0.0.0",
                                             "CARECOORD_PORT": str(port), **env}, timeout=60)
    assert_no_sanitizer_report(done.stderr, "carecoord health")
    return done


def test_health_check_asks_https_and_trusts_only_the_configured_key(test_env, tls_service, pki):
    """With the service's TLS settings, `carecoord health` asks https://127.0.0.1 (not the name
    the certificate is for, and with no CA) and accepts the answer only from the configured
    certificate's public key."""
    ok = health(test_env, tls_service.port, pki.env())
    assert ok.returncode == 0, ok.stderr
    # Another certificate configured (as after a renewal the running service has not loaded):
    # the pin does not match the key the service presents.
    other = health(test_env, tls_service.port, pki.env(cert="other.pem", key="other.key"))
    assert other.returncode == 1, other.stderr
    assert f"https://127.0.0.1:{tls_service.port}/healthz" in other.stderr, other.stderr
    # Without the TLS settings it asks plain HTTP, which the TLS port does not answer.
    plain = health(test_env, tls_service.port, {})
    assert plain.returncode == 1 and "http://127.0.0.1" in plain.stderr, plain.stderr


# -- refusing to start ----------------------------------------------------------------------------


def serve_with(test_env, database, env):
    done = run_binary(test_env, ["serve"], {"CARECOORD_DATABASE_URL": database.app_url,
                                            "CARECOORD_PORT": str(free_port()), **env}, timeout=60)
    assert_no_sanitizer_report(done.stderr, "carecoord serve")
    return done


@pytest.mark.parametrize(
    "files,variable,reason",
    [
        ({"cert": "server.pem", "key": None}, "CARECOORD_TLS_KEY_FILE", "set both"),
        ({"cert": None, "key": "server.key"}, "CARECOORD_TLS_CERT_FILE", "set both"),
        ({"cert": "missing.pem", "key": "server.key"}, "CARECOORD_TLS_CERT_FILE", "cannot read"),
        ({"cert": "server.pem", "key": "missing.key"}, "CARECOORD_TLS_KEY_FILE", "cannot read"),
        ({"cert": "server.key", "key": "server.key"}, "CARECOORD_TLS_CERT_FILE",
         "no PEM certificate"),
        ({"cert": "server.pem", "key": "server.pem"}, "CARECOORD_TLS_KEY_FILE",
         "no unencrypted PEM private key"),
        ({"cert": "server.pem", "key": "encrypted.key"}, "CARECOORD_TLS_KEY_FILE",
         "no unencrypted PEM private key"),
        ({"cert": "server.pem", "key": "other.key"}, "CARECOORD_TLS_KEY_FILE",
         "is not the private key of the certificate"),
    ],
)
def test_bad_tls_settings_stop_the_service_with_exit_2(test_env, database, pki, files, variable,
                                                       reason):
    done = serve_with(test_env, database, pki.env(**files))
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert re.search(rf"^config: {variable}: .*{re.escape(reason)}", done.stderr, re.M), \
        done.stderr
    assert "listening" not in done.stderr + done.stdout
