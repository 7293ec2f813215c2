# SPDX-License-Identifier: MIT
"""Helpers for the TLS and WebSocket listener tests.

make_certs(dir) generates, with the openssl command, a CA, two server
certificates for localhost / 127.0.0.1 (CN localhost, and CN "mqttrule
server B" for the certificate-reload tests), client certificates (CN
device-7, an expired one CN old-device, and a revoked one CN gone-device on
the CA's CRL crl.pem) and a second CA nobody trusts, each run anew.
listeners_config() writes the listener lines of a broker with one listener
of each kind; WsClient is a minimal RFC 6455 client over a plain or TLS
socket that writes exact frames (masked unless told otherwise) and reads
whole frames, every read bounded by a timeout.
"""
import base64
import functools
import hashlib
import os
import socket
import ssl
import struct
import subprocess
import tempfile

from broker_util import BROKER, TIMEOUT, Broker, run_broker


def _ossl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True, timeout=60)


CA_CNF = """[ca]
default_ca = CA_default
[CA_default]
dir = .
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = policy_any
copy_extensions = copy
[policy_any]
commonName = supplied
"""


def make_certs(d):
    """Generate the test PKI in directory d; returns a dict of paths."""
    def p(name):
        return os.path.join(d, name)

    _ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
          "-days", "2", "-subj", "/CN=mqttrule test CA", cwd=d)
    _ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other-ca.key", "-out",
          "other-ca.crt", "-days", "2", "-subj", "/CN=untrusted CA", cwd=d)
    with open(p("san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name, cn, ca, ext in (("server", "localhost", "ca", True),
                              ("server-b", "mqttrule server B", "ca", True),
                              ("client", "device-7", "ca", False),
                              ("stranger", "stranger", "other-ca", False)):
        _ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out", name + ".csr",
              "-subj", "/CN=" + cn, cwd=d)
        args = ["x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
                "-CAcreateserial", "-out", name + ".crt", "-days", "2"]
        if ext:
            args += ["-extfile", "san.ext"]
        _ossl(*args, cwd=d)
    # an expired client certificate: openssl ca can set past dates
    with open(p("ca.cnf"), "w") as f:
        f.write(CA_CNF)
    open(p("index.txt"), "w").close()
    with open(p("serial"), "w") as f:
        f.write("1000\n")
    _ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "expired.key", "-out", "expired.csr",
          "-subj", "/CN=old-device", cwd=d)
    _ossl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-in",
          "expired.csr", "-out", "expired.crt", "-startdate", "20200101000000Z", "-enddate",
          "20200102000000Z", "-notext", cwd=d)
    # a revoked client certificate and the CA's CRL listing it
    _ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "revoked.key", "-out", "revoked.csr",
          "-subj", "/CN=gone-device", cwd=d)
    _ossl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-in",
          "revoked.csr", "-out", "revoked.crt", "-days", "2", "-notext", cwd=d)
    _ossl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-revoke",
          "revoked.crt", cwd=d)
    _ossl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-gencrl",
          "-crldays", "2", "-out", "crl.pem", cwd=d)
    names = ("ca", "other-ca", "server", "server-b", "client", "stranger", "expired", "revoked")
    out = {k: p(k + ".crt") for k in names}
    out.update({k + "_key": p(k + ".key") for k in names if "ca" not in k})
    out["crl"] = p("crl.pem")
    out["dir"] = d
    return out


class Ports:
    """One free port per listener kind: plain (the probe), tls, mtls, ws, wss."""

    def __init__(self):
        socks = []
        for _ in range(5):  # held open together: five different ports
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        self.plain, self.tls, self.mtls, self.ws, self.wss = (s.getsockname()[1] for s in socks)
        for s in socks:
            s.close()


def broker_has_tls():
    """False when mqttrule-broker was built without OpenSSL (a TLS listener
    is then a start-up error saying so)."""
    return broker_has_tls_at(BROKER)


@functools.lru_cache(maxsize=None)
def broker_has_tls_at(broker):
    if not os.path.exists(broker):
        return False
    with tempfile.TemporaryDirectory() as d:
        conf = os.path.join(d, "b.conf")
        with open(conf, "w") as f:
            f.write("listener 1\ncertfile /nonexistent\nkeyfile /nonexistent\n")
        r = subprocess.run([broker, "-c", conf], capture_output=True, text=True, timeout=30)
    return "built without OpenSSL" not in r.stderr


def listeners_config(certs, ports, extra=""):
    """Listener lines for Ports `ports`: plain MQTT, TLS (server auth), mutual
    TLS with use_identity_as_username, ws:// and wss://. Without TLS in the
    broker (certs None): plain MQTT and ws:// only."""
    if certs is None:
        return "listener %d\nlistener %d\nprotocol websockets\n%s" % (ports.plain, ports.ws, extra)
    tls = "certfile %s\nkeyfile %s\n" % (certs["server"], certs["server_key"])
    return ("listener %d\n" % ports.plain +
            "listener %d\n%s" % (ports.tls, tls) +
            "listener %d\n%scafile %s\nrequire_certificate true\nuse_identity_as_username true\n"
            % (ports.mtls, tls, certs["ca"]) +
            "listener %d\nprotocol websockets\n" % ports.ws +
            "listener %d\nprotocol websockets\n%s" % (ports.wss, tls) + extra)


def start_broker(make_config, tries=3):
    """A Broker with the listeners of make_config(Ports()), its plain port as
    the probe. Ports picked free can be taken by another process's outgoing
    connection before the broker binds them (the broker then exits after
    opening its first listeners, so the probe alone does not show it): wait
    for the "started" line and try new ports when a bind failed."""
    for attempt in range(tries):
        ports = Ports()
        b = Broker(config=make_config(ports), port=ports.plain, port_flag=False)
        if b.wait_log(" started ("):  # "mqttrule-broker 0.1.0 started (N rule(s), ..."
            b.ports = ports
            return b
        b.stop()
        text = b.logtext()
        b.tmp.cleanup()
        if "Address already in use" not in text or attempt == tries - 1:
            raise RuntimeError("broker did not start:\n" + text)
    raise AssertionError("unreachable")


def assert_startup_error(tmp_path, text, msg):
    """A broker started with configuration `text` stops with `msg` on stderr."""
    path = tmp_path / "broker.conf"
    path.write_text(text)
    r = run_broker("-c", str(path))
    assert r.returncode != 0
    assert msg in r.stderr, r.stderr


def client_ctx(certs, cert=None, key=None, ca="ca", version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs[ca])
    if cert:
        ctx.load_cert_chain(certs[cert], certs[key])
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


class WsClient:
    """RFC 6455 client over a socket (TLS when ctx is given)."""

    def __init__(self, port, path="/mqtt", protocol="mqtt", ctx=None, headers=None, upgrade=True):
        s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock = ctx.wrap_socket(s, server_hostname="localhost") if ctx else s
        self.buf = b""
        self.status = None
        self.head = b""
        if upgrade:
            self.key = base64.b64encode(os.urandom(16)).decode()
            req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                   % (path, port, self.key))
            if protocol:
                req += "Sec-WebSocket-Protocol: %s\r\n" % protocol
            for k, v in (headers or {}).items():
                req += "%s: %s\r\n" % (k, v)
            self.request(req + "\r\n")

    def request(self, raw):
        self.sock.sendall(raw.encode() if isinstance(raw, str) else raw)
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.head = head.decode("latin-1")
        self.status = int(self.head.split(" ")[1]) if self.head else None
        return self.status

    def header(self, name):
        for line in self.head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == name.lower():
                return v.strip()
        return None

    def accept_ok(self):
        want = base64.b64encode(hashlib.sha1((self.key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
                                             .encode()).digest()).decode()
        return self.header("Sec-WebSocket-Accept") == want

    def body(self):
        """The rest of an HTTP refusal (the connection closes after it)."""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                break
            if not chunk:
                break
            self.buf += chunk
        return self.buf.decode("latin-1")

    @staticmethod
    def frame(payload, opcode=2, fin=True, mask=True, rsv=0):
        b0 = (0x80 if fin else 0) | rsv | opcode
        n = len(payload)
        mbit = 0x80 if mask else 0
        if n < 126:
            h = bytes([b0, mbit | n])
        elif n < 65536:
            h = bytes([b0, mbit | 126]) + struct.pack(">H", n)
        else:
            h = bytes([b0, mbit | 127]) + struct.pack(">Q", n)
        if not mask:
            return h + payload
        key = os.urandom(4)
        return h + key + bytes(c ^ key[i & 3] for i, c in enumerate(payload))

    def send(self, payload, **kw):
        self.sock.sendall(self.frame(payload, **kw))

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("closed")
            self.buf += chunk

    def recv_frame(self):
        """(fin, opcode, payload) of the next server frame (never masked)."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "server frames are not masked"
        n, h = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, h = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, h = struct.unpack(">Q", self.buf[2:10])[0], 10
        self._need(h + n)
        payload, self.buf = self.buf[h:h + n], self.buf[h + n:]
        return (b0 >> 7, b0 & 0x0F, payload)

    def recv_mqtt(self):
        """Payload bytes of binary frames until one whole MQTT packet is there
        (the broker puts each packet in its own frame)."""
        fin, op, p = self.recv_frame()
        assert op == 2, (op, p)
        return p

    def close(self):
        self.sock.close()
