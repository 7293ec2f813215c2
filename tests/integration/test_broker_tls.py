# SPDX-License-Identifier: MIT
"""TLS and WebSocket listeners (docs/broker.md, "Listeners") with real
clients: mosquitto_pub/sub with --cafile and with --cert/--key, paho-mqtt
over TLS and over WebSocket, refused handshakes (wrong CA, an expired client
certificate, plain TCP to a TLS port, a silent handshake) counted per reason
in the stats line and logged, TLS session resumption at 1.2 and 1.3, and
start-up errors. The certificates are generated for each run with openssl.
WebSocket framing at the byte level is in test_broker_ws.py; MQTT.js and a
real browser in test_broker_browser.py."""
import json
import os
import queue
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest

from broker_util import (BROKER, TIMEOUT, EventSubscriber, connect_bytes, publish_bytes,
                         run_broker, stats, subscribe_bytes)
from tls_util import (Ports, assert_startup_error, broker_has_tls, client_ctx, listeners_config,
                      make_certs, start_broker)

pytestmark = [
    pytest.mark.skipif(not os.path.exists(BROKER), reason="mqttrule-broker not built"),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed"),
]
needs_tls = pytest.mark.skipif(not broker_has_tls(), reason="mqttrule-broker built without OpenSSL")

try:
    import paho.mqtt.client as paho
except ImportError:  # pragma: no cover - reported as a skip
    paho = None

MOSQ = shutil.which("mosquitto_pub") is not None and shutil.which("mosquitto_sub") is not None

ACL = ("acl all read #\n"
       "acl all readwrite public/#\n"
       "acl user device-7 readwrite devices/device-7/#\n")

CONNECTED_RULE = ("rule connected\n"
                  "  sql SELECT clientid, username, sockname FROM \"$events/client_connected\"\n"
                  "  republish client_connected\nend\n"
                  "rule connack\n"
                  "  sql SELECT clientid, username, sockname, reason_code FROM "
                  "\"$events/client_connack\"\n"
                  "  republish client_connack\nend\n")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(str(tmp_path_factory.mktemp("pki")))


def tls_broker(certs, extra=""):
    return start_broker(lambda ports: listeners_config(certs, ports, extra))


def mosq(tool, port, *args, timeout=TIMEOUT + 5):
    return subprocess.run([tool, "-h", "localhost", "-p", str(port)] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def start_sub(port, *args):
    """mosquitto_sub in the background; returns the process (stdout is a pipe)."""
    return subprocess.Popen(["mosquitto_sub", "-h", "localhost", "-p", str(port), "-v"] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_lines(proc, n, timeout=TIMEOUT + 5):
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = out.splitlines()
    assert len(lines) >= n, (out, err)
    return lines


@needs_tls
@pytest.mark.skipif(not MOSQ, reason="mosquitto-clients is not installed")
def test_mosquitto_server_auth(certs):
    """mosquitto_sub/pub with --cafile: the server's certificate is verified
    and messages and the connack event flow over TLS."""
    with tls_broker(certs, CONNECTED_RULE) as b:
        p = b.ports.tls
        sub = start_sub(p, "--cafile", certs["ca"], "-t", "public/#", "-t", "client_connack",
                        "-C", "2", "-i", "tls-sub")
        assert b.wait_log("client 'tls-sub' connected"), b.logtext()
        r = mosq("mosquitto_pub", p, "--cafile", certs["ca"], "-t", "public/a", "-m", "over tls",
                 "-i", "tls-pub")
        assert r.returncode == 0, r.stderr + b.logtext()
        lines = read_lines(sub, 2)
        assert "public/a over tls" in lines
        evs = [json.loads(l.split(" ", 1)[1]) for l in lines if l.startswith("client_connack ")]
        assert {e["clientid"] for e in evs} >= {"tls-pub"}
        ev = next(e for e in evs if e["clientid"] == "tls-pub")
        assert ev["sockname"] == "127.0.0.1:%d" % p and ev["reason_code"] == "connection_accepted"
        assert "TLS handshake with" in b.logtext()
        assert stats(b)["tls.handshakes"] >= 2


@needs_tls
@pytest.mark.skipif(not MOSQ, reason="mosquitto-clients is not installed")
def test_mosquitto_mutual_identity(certs):
    """require_certificate + use_identity_as_username: the CN (device-7)
    replaces the user name given in CONNECT for the ACL and the events; no
    certificate, no connection."""
    with tls_broker(certs, ACL + CONNECTED_RULE) as b:
        p = b.ports.mtls
        watcher = EventSubscriber(b.ports.plain, topic="client_connected", clientid="watch")
        mine = start_sub(b.ports.plain, "-t", "devices/#", "-C", "1", "-i", "dev-sub")
        assert b.wait_log("client 'dev-sub' subscribed"), b.logtext()
        cert = ["--cafile", certs["ca"], "--cert", certs["client"], "--key", certs["client_key"]]
        # the user name sent is replaced by the certificate's CN
        r = mosq("mosquitto_pub", p, *cert, "-u", "someone-else", "-t", "devices/other/x",
                 "-m", "denied", "-i", "dev7-a")
        assert r.returncode == 0, r.stderr + b.logtext()
        r = mosq("mosquitto_pub", p, *cert, "-u", "someone-else", "-t", "devices/device-7/t",
                 "-m", "allowed", "-i", "dev7-b")
        assert r.returncode == 0, r.stderr + b.logtext()
        assert read_lines(mine, 1) == ["devices/device-7/t allowed"]  # ACL: only its own tree
        ev = watcher.next_json()
        while ev["clientid"] == "dev-sub":
            ev = watcher.next_json()
        assert ev == {"clientid": "dev7-a", "username": "device-7",
                      "sockname": "127.0.0.1:%d" % p}
        assert watcher.next_json()["username"] == "device-7"
        # without a client certificate the handshake fails
        r = mosq("mosquitto_pub", p, "--cafile", certs["ca"], "-t", "x", "-m", "m", "-i", "nocert")
        assert r.returncode != 0
        assert b.wait_log("TLS handshake from 127.0.0.1:"), b.logtext()
        st = stats(b)
        assert sum(v for k, v in st.items() if k.startswith("tls.failed.")) == 1, st
        watcher.close()


@needs_tls
@pytest.mark.skipif(not MOSQ, reason="mosquitto-clients is not installed")
def test_refused_handshakes_counted(certs):
    """A wrong CA, an expired client certificate, plain MQTT to a TLS port and
    a handshake that never finishes: each is logged with the peer and
    OpenSSL's reason and counted under its own key."""
    with tls_broker(certs, "connect_timeout_ms 1000\n") as b:
        # the client does not trust the server (its CA is another one)
        r = mosq("mosquitto_pub", b.ports.tls, "--cafile", certs["other-ca"], "-t", "x", "-m", "m")
        assert r.returncode != 0
        assert b.wait_log("failed: tlsv1 alert unknown ca"), b.logtext()
        # an expired client certificate on the mutual listener
        r = mosq("mosquitto_pub", b.ports.mtls, "--cafile", certs["ca"], "--cert",
                 certs["expired"], "--key", certs["expired_key"], "-t", "x", "-m", "m")
        assert r.returncode != 0
        assert b.wait_log("certificate has expired"), b.logtext()
        # a certificate from a CA the listener does not trust
        r = mosq("mosquitto_pub", b.ports.mtls, "--cafile", certs["ca"], "--cert",
                 certs["stranger"], "--key", certs["stranger_key"], "-t", "x", "-m", "m")
        assert r.returncode != 0
        # plain MQTT to the TLS port
        s = socket.create_connection(("127.0.0.1", b.ports.tls), timeout=TIMEOUT)
        s.sendall(connect_bytes("plain"))
        s.settimeout(TIMEOUT)
        try:
            while s.recv(4096):
                pass
        except ConnectionResetError:
            pass
        s.close()
        # a handshake that starts (a record header) and then stalls
        s = socket.create_connection(("127.0.0.1", b.ports.tls), timeout=TIMEOUT)
        s.sendall(b"\x16\x03\x01\x02\x00")
        assert b.wait_log("not finished within 1000 ms", timeout=TIMEOUT + 5), b.logtext()
        s.close()
        log = b.logtext()
        assert "TLS handshake from 127.0.0.1:" in log
        st = stats(b)
        assert st.get("tls.failed.tlsv1_alert_unknown_ca") == 1, st
        assert st.get("tls.failed.certificate_has_expired") == 1, st
        assert st.get("tls.failed.unable_to_get_local_issuer_certificate") == 1, st
        assert st.get("tls.failed.handshake_timeout") == 1, st
        plain = [k for k in st if k.startswith("tls.failed.") and k not in (
            "tls.failed.tlsv1_alert_unknown_ca", "tls.failed.certificate_has_expired",
            "tls.failed.unable_to_get_local_issuer_certificate", "tls.failed.handshake_timeout")]
        assert len(plain) == 1 and st[plain[0]] == 1, st  # OpenSSL's reason for non-TLS bytes
        assert "the client does not speak TLS" in log
        assert st["connected"] == 0 and st["tls.handshakes"] == 0

@needs_tls

def test_tls_on_plain_port_and_http_on_mqtt_port(certs):
    """A TLS ClientHello or an HTTP request on a plain MQTT listener is named
    as such in the log (not "first packet is not a CONNECT")."""
    with tls_broker(certs) as b:
        ctx = client_ctx(certs)
        with socket.create_connection(("127.0.0.1", b.ports.plain), timeout=TIMEOUT) as s:
            with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
                ctx.wrap_socket(s, server_hostname="localhost")
        with socket.create_connection(("127.0.0.1", b.ports.plain), timeout=TIMEOUT) as s:
            s.sendall(b"GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n")
            resp = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                resp += chunk
        assert resp.startswith(b"HTTP/1.1 400 ") and b"protocol websockets" in resp
        log = b.logtext()
        assert "a TLS handshake arrived on plain MQTT listener %d" % b.ports.plain in log
        assert "an HTTP request (GET /mqtt HTTP/1.1) arrived on MQTT listener" in log
        assert "first packet is not a CONNECT" not in log
        st = stats(b)
        assert st["refused.tls_on_plain_listener"] == 1
        assert st["refused.http_on_mqtt_listener"] == 1


@needs_tls
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_session_resumption(certs, version):
    """A client presenting its session again resumes it (TLS 1.2 session
    cache / ticket, TLS 1.3 ticket), counted as tls.resumed."""
    with tls_broker(certs) as b:
        ctx = client_ctx(certs, version=version)
        session = None
        reused = []
        for i in range(2):
            raw = socket.create_connection(("127.0.0.1", b.ports.tls), timeout=TIMEOUT)
            s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
            assert s.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                   ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
            s.sendall(connect_bytes("resume%d" % i))
            assert s.recv(4)[:1] == b"\x20"  # CONNACK (TLS 1.3: the tickets came before it)
            reused.append(s.session_reused)
            session = s.session
            s.close()
        assert reused == [False, True]
        st = stats(b)
        assert st["tls.handshakes"] == 2 and st["tls.resumed"] == 1

@needs_tls

def test_tls_version_minimum(certs):
    """tls_version tlsv1.3 refuses a TLS 1.2 client."""
    def config(ports):
        return listeners_config(certs, ports).replace(
            "listener %d\ncertfile" % ports.tls,
            "listener %d\ntls_version tlsv1.3\ncertfile" % ports.tls)
    with start_broker(config) as b:
        raw = socket.create_connection(("127.0.0.1", b.ports.tls), timeout=TIMEOUT)
        with pytest.raises(ssl.SSLError):
            client_ctx(certs, version=ssl.TLSVersion.TLSv1_2).wrap_socket(
                raw, server_hostname="localhost")
        raw.close()
        assert b.wait_log("unsupported protocol"), b.logtext()


@needs_tls
@pytest.mark.skipif(paho is None, reason="python3-paho-mqtt is not installed")
@pytest.mark.parametrize("kind", ["tls", "ws", "wss"])
def test_paho(certs, kind):
    """paho-mqtt over TLS, ws:// and wss:// (transport="websockets"): QoS 0,
    1 and 2 round trips, a 100 kB message, and the connack event's sockname
    naming the listener."""
    with tls_broker(certs, CONNECTED_RULE) as b:
        port = {"tls": b.ports.tls, "ws": b.ports.ws, "wss": b.ports.wss}[kind]
        q = queue.Queue()
        kw = {"client_id": "paho-" + kind, "clean_session": True}
        if kind != "tls":
            kw["transport"] = "websockets"
        c = paho.Client(**kw)
        if kind != "ws":
            c.tls_set(ca_certs=certs["ca"])
        c.on_message = lambda cl, ud, m: q.put((m.topic, m.payload, m.qos))
        c.connect("localhost", port)
        c.loop_start()
        try:
            c.subscribe([("public/#", 2), ("client_connack", 0)])
            big = os.urandom(100000)
            time.sleep(0.2)
            for qos in (0, 1, 2):
                c.publish("public/q%d" % qos, b"m%d" % qos, qos=qos)
            c.publish("public/big", big, qos=1)
            other = paho.Client(client_id="other-" + kind)
            other.connect("127.0.0.1", b.ports.plain)
            other.loop(timeout=1.0)
            got, ev = {}, None
            deadline = time.monotonic() + TIMEOUT
            while (len(got) < 4 or ev is None) and time.monotonic() < deadline:
                t, p, qos = q.get(timeout=TIMEOUT)
                if t == "client_connack":
                    e = json.loads(p)
                    if e["clientid"] == "other-" + kind:
                        ev = e
                else:
                    got[t] = (p, qos)
            other.disconnect()
            assert got == {"public/q0": (b"m0", 0), "public/q1": (b"m1", 1),
                           "public/q2": (b"m2", 2), "public/big": (big, 1)}
            assert ev is not None and ev["sockname"] == "127.0.0.1:%d" % b.ports.plain
        finally:
            c.disconnect()
            c.loop_stop()
        log = b.logtext()
        assert "client 'paho-%s' connected" % kind in log
        if kind != "tls":
            assert "WebSocket upgrade from" in log


CONFIG_ERRORS = [
    ("listener 1\ncafile /x\n", "broker.conf:1: listener 1: TLS options"),
    ("listener 1\ncertfile /x\n", "broker.conf:1: listener 1: certfile without keyfile"),
    ("listener 1\nprotocol websocket\n", "broker.conf:2: protocol needs mqtt or websockets"),
    ("cafile /x\n", "broker.conf:1: cafile must follow a 'listener PORT [ADDRESS]' line"),
    ("listener 1\nmqtt_path /m\n", "broker.conf:1: listener 1: mqtt_path needs 'protocol websockets'"),
    ("listener 1\ncertfile /x\nkeyfile /y\nuse_identity_as_username true\n",
     "use_identity_as_username true needs require_certificate true"),
    ("listener 1\ncertfile /x\nkeyfile /y\nrequire_certificate true\n",
     "require_certificate true needs cafile or capath"),
    ("listener 1\ntls_version tlsv1.1\n", "broker.conf:2: tls_version needs tlsv1.2 or tlsv1.3"),
    ("listener 1\ncertfile /x\nkeyfile /y\ncrlfile /z\n",
     "broker.conf:1: listener 1: crlfile needs require_certificate true"),
    ("listener 1\ncrlfile /z\n", "broker.conf:1: listener 1: TLS options (cafile, capath, crlfile"),
]


@pytest.mark.parametrize("text,msg", CONFIG_ERRORS)
def test_config_errors(tmp_path, text, msg):
    assert_startup_error(tmp_path, text, msg)

@needs_tls

def test_bad_certificate_file_stops_startup(tmp_path, certs):
    path = tmp_path / "broker.conf"
    path.write_text("listener %d\ncertfile %s\nkeyfile %s\n" % (
        Ports().tls, certs["server"], certs["client_key"]))
    r = run_broker("-c", str(path))
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "broker.conf:1: listener" in out and "key values mismatch" in out, out


@pytest.mark.skipif(broker_has_tls(), reason="mqttrule-broker has TLS")
def test_tls_listener_without_openssl_is_a_startup_error(tmp_path):
    path = tmp_path / "broker.conf"
    path.write_text("listener 1883\nlistener 8883\ncertfile /x.crt\nkeyfile /x.key\n")
    r = run_broker("-c", str(path))
    assert r.returncode != 0
    assert "broker.conf:2: listener 8883: this listener uses TLS (certfile), but mqttrule-broker " \
           "was built without OpenSSL" in r.stderr, r.stderr


@needs_tls
def test_ciphers_and_capath(tmp_path, certs):
    """ciphers is handed to OpenSSL (a list matching nothing stops start-up);
    capath verifies clients like cafile (a directory made with openssl rehash)."""
    path = tmp_path / "broker.conf"
    path.write_text("listener %d\ncertfile %s\nkeyfile %s\nciphers NO-SUCH-CIPHER\n" % (
        Ports().tls, certs["server"], certs["server_key"]))
    r = run_broker("-c", str(path))
    assert r.returncode != 0 and "ciphers NO-SUCH-CIPHER: no cipher match" in r.stdout + r.stderr
    cadir = tmp_path / "cadir"
    cadir.mkdir()
    shutil.copy(certs["ca"], cadir / "ca.pem")
    subprocess.run(["openssl", "rehash", str(cadir)], check=True, capture_output=True)
    tls = "certfile %s\nkeyfile %s\n" % (certs["server"], certs["server_key"])

    def config(ports):
        return ("listener %d\nlistener %d\n%scapath %s\nrequire_certificate true\n"
                "ciphers ECDHE-RSA-AES128-GCM-SHA256\n" % (ports.plain, ports.tls, tls, cadir))
    with start_broker(config) as b:
        ctx = client_ctx(certs, cert="client", key="client_key", version=ssl.TLSVersion.TLSv1_2)
        with socket.create_connection(("127.0.0.1", b.ports.tls), timeout=TIMEOUT) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                assert s.cipher()[0] == "ECDHE-RSA-AES128-GCM-SHA256"
                s.sendall(connect_bytes("capath"))
                assert s.recv(4)[:1] == b"\x20"


# ---- SIGHUP reloads certificates; crlfile ---------------------------------------------------

def peer_cn(certs, port):
    """The subject CN of the certificate a new TLS connection to `port` sees."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with client_ctx(certs).wrap_socket(raw, server_hostname="localhost") as s:
            subject = dict(x[0] for x in s.getpeercert()["subject"])
            return subject["commonName"]


def tls_session(certs, port, clientid):
    """A connected MQTT client over TLS (raw socket): CONNACK read."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s = client_ctx(certs).wrap_socket(raw, server_hostname="localhost")
    s.sendall(connect_bytes(clientid))
    assert s.recv(4) == b"\x20\x02\x00\x00"
    return s


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        assert chunk, "connection closed"
        out += chunk
    return out


def install(certs, name, cert_path, key_path, key_name=None):
    """Replace the files the broker reads with certificate `name` (and the key
    of `key_name`, default the same), the way a renewal does (rename over)."""
    for src, dst in ((certs[name], cert_path), (certs[(key_name or name) + "_key"], key_path)):
        shutil.copy(src, dst + ".new")
        os.replace(dst + ".new", dst)


@needs_tls
def test_sighup_reloads_certificate(tmp_path, certs):
    """A renewed certificate at the same paths is served to new connections
    after SIGHUP, while a connection made before keeps working (round trip
    over its old TLS session). A broken replacement (the key does not match)
    keeps the running certificate, logged with the file and OpenSSL's
    reason."""
    crt, key = str(tmp_path / "live.crt"), str(tmp_path / "live.key")
    install(certs, "server", crt, key)

    def config(ports):
        return "listener %d\nlistener %d\ncertfile %s\nkeyfile %s\n" % (
            ports.plain, ports.tls, crt, key)
    with start_broker(config) as b:
        port = b.ports.tls
        assert peer_cn(certs, port) == "localhost"
        old = tls_session(certs, port, "before-reload")
        old.sendall(subscribe_bytes(1, [("r/#", 0)]))
        assert recv_exact(old, 5)[:1] == b"\x90"
        # a broken renewal: certificate B with the key of A
        install(certs, "server-b", crt, key, key_name="server")
        b.send_signal(signal.SIGHUP)
        assert b.wait_log("the running certificate stays"), b.logtext()
        line = next(l for l in b.logtext().splitlines() if "the running certificate stays" in l)
        assert "SIGHUP: listener %d: keyfile %s: key values mismatch" % (
            port, key) in line, line
        assert peer_cn(certs, port) == "localhost"
        # the real renewal: certificate and key of B
        install(certs, "server-b", crt, key)
        b.send_signal(signal.SIGHUP)
        assert b.wait_log("SIGHUP: listener %d: certificate reloaded from %s" % (port, crt)), \
            b.logtext()
        assert peer_cn(certs, port) == "mqttrule server B"
        # the connection from before the reload still works both ways
        old.sendall(publish_bytes("r/1", "still here"))
        assert recv_exact(old, len(publish_bytes("r/1", "still here"))) == \
            publish_bytes("r/1", "still here")
        old.sendall(b"\xc0\x00")  # PINGREQ
        assert recv_exact(old, 2) == b"\xd0\x00"
        assert stats(b)["connected"] == 1
        old.close()


@needs_tls
def test_sighup_reloads_crl(tmp_path, certs):
    """crlfile is read again on SIGHUP: a client certificate revoked after
    start-up is refused once the new CRL is loaded."""
    crl = str(tmp_path / "live-crl.pem")
    empty = tmp_path / "pki-empty"
    # a CRL listing nothing yet: a second CA database with no revocation
    empty.mkdir()
    for f in ("ca.cnf",):
        shutil.copy(os.path.join(certs["dir"], f), empty / f)
    (empty / "index.txt").write_text("")
    (empty / "serial").write_text("2000\n")
    (empty / "crlnumber").write_text("01\n")
    subprocess.run(["openssl", "ca", "-batch", "-config", "ca.cnf", "-cert", certs["ca"], "-keyfile",
                    os.path.join(certs["dir"], "ca.key"), "-gencrl", "-crldays", "2", "-out", crl],
                   cwd=str(empty), check=True, capture_output=True)

    with start_broker(lambda ports: crl_config(certs, ports, crl)) as b:
        mtls_connects(certs, b.ports.mtls, "revoked", "not-yet-revoked")
        shutil.copy(certs["crl"], crl)
        b.send_signal(signal.SIGHUP)
        assert b.wait_log("SIGHUP: listener %d: certificate reloaded" % b.ports.mtls), b.logtext()
        assert revoked_refused(certs, b.ports.mtls)
        assert b.wait_log("certificate revoked"), b.logtext()


def crl_config(certs, ports, crl, extra=""):
    """A plain listener and a mutual TLS one (ports.mtls) checking `crl`."""
    return ("listener %d\nlistener %d\ncertfile %s\nkeyfile %s\ncafile %s\n"
            "require_certificate true\ncrlfile %s\n%s" % (
                ports.plain, ports.mtls, certs["server"], certs["server_key"], certs["ca"], crl,
                extra))


def mtls_connects(certs, port, cert, clientid):
    """Connect with client certificate `cert` and expect a CONNACK."""
    ctx = client_ctx(certs, cert=cert, key=cert + "_key")
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(connect_bytes(clientid))
            assert s.recv(4) == b"\x20\x02\x00\x00"


def revoked_refused(certs, port):
    """True when the revoked client certificate fails to get a CONNACK on
    `port` (TLS 1.3 reports the server's alert at the first read)."""
    ctx = client_ctx(certs, cert="revoked", key="revoked_key")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(connect_bytes("revoked"))
                return s.recv(4) == b""
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return True


@needs_tls
def test_crlfile_refuses_revoked_client(certs):
    """crlfile: a revoked client certificate fails the handshake (logged,
    counted as tls.failed.certificate_revoked); one not on the CRL connects."""
    with start_broker(lambda ports: crl_config(certs, ports, certs["crl"],
                                               "use_identity_as_username true\n")) as b:
        mtls_connects(certs, b.ports.mtls, "client", "good")
        assert revoked_refused(certs, b.ports.mtls)
        assert b.wait_log("failed: certificate revoked"), b.logtext()
        assert "TLS handshake from 127.0.0.1:" in b.logtext()
        st = stats(b)
        assert st.get("tls.failed.certificate_revoked") == 1, st
        assert st["tls.handshakes"] == 1, st
        assert "client 'good' connected" in b.logtext()


def other_ca_crl(certs, tmp_path):
    """A CRL signed by the untrusted CA (certs["other-ca"]): its path."""
    other = tmp_path / "other-crl.pem"
    d = tmp_path / "other"
    d.mkdir()
    shutil.copy(os.path.join(certs["dir"], "ca.cnf"), d / "ca.cnf")
    (d / "index.txt").write_text("")
    (d / "crlnumber").write_text("01\n")
    subprocess.run(["openssl", "ca", "-batch", "-config", "ca.cnf", "-cert", certs["other-ca"],
                    "-keyfile", os.path.join(certs["dir"], "other-ca.key"), "-gencrl", "-crldays",
                    "2", "-out", str(other)], cwd=str(d), check=True, capture_output=True)
    return other


@needs_tls
def test_crlfile_startup_errors(tmp_path, certs):
    """A CRL file that is missing, not a CRL, or signed by another CA stops
    start-up naming the file and the reason."""
    other = other_ca_crl(certs, tmp_path)
    cases = [("/nonexistent/crl.pem", "crlfile /nonexistent/crl.pem: "),
             (certs["server"], "crlfile %s: no start line (no PEM 'X509 CRL' in it)" % certs["server"]),
             (str(other), "crlfile %s: the CRL of /CN=untrusted CA is not signed by a CA of cafile"
              % other)]
    for crl, msg in cases:
        path = tmp_path / "broker.conf"
        path.write_text("listener %d\ncertfile %s\nkeyfile %s\ncafile %s\n"
                        "require_certificate true\ncrlfile %s\n" % (
                            Ports().tls, certs["server"], certs["server_key"], certs["ca"], crl))
        r = run_broker("-c", str(path))
        assert r.returncode != 0
        out = r.stdout + r.stderr
        assert "broker.conf:1: listener" in out and msg in out, out


@needs_tls
def test_crlfile_with_capath(tmp_path, certs):
    """crlfile with capath (no cafile): the CRL's issuer is looked up in the
    hashed directory, so a CRL signed by a CA that is not there stops
    start-up (it would refuse every client), and the right one refuses the
    revoked client while the good one connects."""
    cadir = tmp_path / "cadir"
    cadir.mkdir()
    shutil.copy(certs["ca"], cadir / "ca.pem")
    subprocess.run(["openssl", "rehash", str(cadir)], check=True, capture_output=True)
    other = other_ca_crl(certs, tmp_path)

    def config(crl):
        return lambda ports: ("listener %d\nlistener %d\ncertfile %s\nkeyfile %s\ncapath %s\n"
                              "require_certificate true\ncrlfile %s\n" % (
                                  ports.plain, ports.mtls, certs["server"], certs["server_key"],
                                  cadir, crl))
    path = tmp_path / "broker.conf"
    path.write_text(config(other)(Ports()))
    r = run_broker("-c", str(path))
    assert r.returncode != 0, r.stdout + r.stderr
    assert ("crlfile %s: the CRL of /CN=untrusted CA is not signed by a CA of capath %s"
            % (other, cadir)) in r.stdout + r.stderr, r.stdout + r.stderr
    with start_broker(config(certs["crl"])) as b:
        mtls_connects(certs, b.ports.mtls, "client", "good")
        assert revoked_refused(certs, b.ports.mtls)
        assert b.wait_log("failed: certificate revoked"), b.logtext()


@needs_tls
def test_sighup_listener_port_change_needs_restart(tmp_path, certs):
    """A TLS listener moved to another port keeps its socket (and its
    certificate) until a restart; the log says so."""
    def config(ports):
        return "listener %d\nlistener %d\ncertfile %s\nkeyfile %s\n" % (
            ports.plain, ports.tls, certs["server"], certs["server_key"])
    with start_broker(config) as b:
        with open(b.config_path, "w") as f:
            f.write("listener %d\nlistener %d\ncertfile %s\nkeyfile %s\n" % (
                b.ports.plain, b.ports.mtls, certs["server-b"], certs["server-b_key"]))
        b.send_signal(signal.SIGHUP)
        assert b.wait_log("SIGHUP: configuration reloaded"), b.logtext()
        assert "changed in port, address or protocol; that needs a restart, the running " \
               "listeners stay" in b.logtext()
        assert "certificate reloaded" not in b.logtext()
        assert peer_cn(certs, b.ports.tls) == "localhost"
