"""The agent's HTTP server under hostile or heavy clients: a slow-client
attack while a normal client is served, persistent and pipelined
connections, the Host check, the bearer token (API and dashboard), TLS, and
the memory history requests can make the agent hold."""
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

from gpulse_e2e import GEN, GPULSE, SOURCE_DIR, Agent, run, write_scenario

SCENARIO = {"gpus": [{"metrics": {"utilization_gpu": 40}}, {}]}
TOKEN = "4f9c1e7a2b8d4c6e9a0b1c2d3e4f5a6b"
MIB = 1024 * 1024
# src/http/http.h
HEADER_DEADLINE_S = 10
MAX_PER_IP = 32
# sizeof(struct store_history_row) on x86-64 (src/store/store.h): what one
# row of a history answer costs while it is made (docs/http.md).
ROW_BYTES = 736


def port_of(agent):
    return int(re.search(r":(\d+)/", agent.url).group(1))


def complete_responses(out):
    """How many whole responses (status line, headers, Content-Length body)
    out starts with."""
    n = 0
    at = 0
    while True:
        head_end = out.find(b"\r\n\r\n", at)
        if not out.startswith(b"HTTP/1.1 ", at) or head_end < 0:
            return n
        m = re.search(rb"\r\nContent-Length: (\d+)", out[at:head_end], re.I)
        end = head_end + 4 + (int(m.group(1)) if m else 0)
        if len(out) < end:
            return n
        n += 1
        at = end


def raw_exchange(port, data, source="127.0.0.1", until=1, timeout=5):
    """Sends data on one connection and reads until `until` whole responses
    are in, or the server closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0))
    try:
        s.sendall(data)
        out = b""
        while complete_responses(out) < until:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


class KeepAlive(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = Agent(SCENARIO).__enter__()
        cls.port = port_of(cls.agent)

    @classmethod
    def tearDownClass(cls):
        cls.agent.__exit__(None, None, None)

    def test_one_connection_serves_several_requests(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        statuses = []
        socks = []
        for path in ("/health", "/api/v1/now", "/api/v1/history?from=-10m", "/metrics"):
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            statuses.append(r.status)
            self.assertNotEqual((r.getheader("Connection") or "").lower(), "close", path)
            socks.append(c.sock)
        c.close()
        self.assertEqual(statuses, [200, 200, 200, 200])
        # http.client reopens on a closed connection: one socket means kept alive
        self.assertTrue(all(s is socks[0] for s in socks))

    def test_pipelined_requests_each_get_an_answer(self):
        req = (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
               b"GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
               b"GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        out = raw_exchange(self.port, req, until=3)
        self.assertEqual(re.findall(rb"(?:^|\n)HTTP/1\.1 (\d{3})", out), [b"200", b"200", b"404"])
        self.assertIn(b"gpulse.info.v1", out)

    def test_missing_or_foreign_host_is_refused_with_json(self):
        out = raw_exchange(self.port, b"GET /api/v1/now HTTP/1.1\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 400"), out[:80])
        self.assertIn(b'"error"', out)
        self.assertIn(b"Host", out)
        # HTTP/1.0 had no Host header: served
        out = raw_exchange(self.port, b"GET /health HTTP/1.0\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 200") or out.startswith(b"HTTP/1.0 200"),
                        out[:80])
        # a page that reached 127.0.0.1 through DNS rebinding names its own host
        for host in ("evil.example.com", "evil.example.com:%d" % self.port,
                     "localhost:%d" % (self.port + 1)):
            code, headers, body = self.agent.get("/api/v1/now", headers={"Host": host})
            self.assertEqual(code, 421, host)
            self.assertEqual(headers["content-type"], "application/json")
            self.assertEqual(json.loads(body)["error"]["status"], 421)
        for host in ("localhost:%d" % self.port, "127.0.0.1:%d" % self.port, "localhost",
                     "[::1]:%d" % self.port):
            self.assertEqual(self.agent.get("/health", headers={"Host": host})[0], 200, host)


class SlowClients(unittest.TestCase):
    """256 connections that each send a header line now and then held every
    slot for ever: each now has a deadline for its line and headers, and one
    address holds at most an eighth of the slots."""

    def test_normal_client_is_served_during_a_slow_client_attack(self):
        with Agent(SCENARIO) as agent:
            port = port_of(agent)
            stop = threading.Event()
            held = []
            lock = threading.Lock()

            def attack():
                # 300 connections from 127.0.0.2, topped up as they are cut,
                # each sending one more header line every second.
                socks = []
                while not stop.is_set():
                    while len(socks) < 300 and not stop.is_set():
                        try:
                            s = socket.create_connection(("127.0.0.1", port), timeout=2,
                                                         source_address=("127.0.0.2", 0))
                            s.sendall(b"GET /api/v1/now HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                            socks.append(s)
                        except OSError:
                            break
                    alive = []
                    for s in socks:
                        try:
                            s.sendall(b"X-Slow: 1\r\n")
                            alive.append(s)
                        except OSError:
                            s.close()
                    socks = alive
                    with lock:
                        held.append(len(socks))
                    stop.wait(1)
                for s in socks:
                    s.close()

            t = threading.Thread(target=attack)
            t.start()
            try:
                time.sleep(3)
                slowest = 0.0
                served = 0
                end = time.time() + 2 * HEADER_DEADLINE_S
                while time.time() < end:
                    t0 = time.time()
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                                   source_address=("127.0.0.1", 0))
                    c.request("GET", "/api/v1/now")
                    r = c.getresponse()
                    r.read()
                    c.close()
                    self.assertEqual(r.status, 200)
                    slowest = max(slowest, time.time() - t0)
                    served += 1
                    time.sleep(0.5)
            finally:
                stop.set()
                t.join()
            self.assertGreaterEqual(served, 10)
            self.assertLess(slowest, 3.0, "a normal client waited %.1f s" % slowest)
            self.assertGreater(max(held), 0, "the attack never got a connection")
            self.assertEqual(agent.get("/health")[0], 200)

    def test_a_trickling_request_is_cut_at_its_deadline(self):
        with Agent(SCENARIO) as agent:
            port = port_of(agent)
            s = socket.create_connection(("127.0.0.1", port), timeout=3)
            s.sendall(b"GET /api/v1/now HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            t0 = time.time()
            closed = None
            # libmicrohttpd's idle timeout never fires: a line a second
            while time.time() - t0 < HEADER_DEADLINE_S + 10:
                try:
                    s.sendall(b"X-Slow: 1\r\n")
                    s.settimeout(1)
                    if s.recv(4096) == b"":
                        closed = time.time() - t0
                        break
                except socket.timeout:
                    continue
                except OSError:
                    closed = time.time() - t0
                    break
            s.close()
            self.assertIsNotNone(closed, "the slow request was never cut")
            self.assertLess(closed, HEADER_DEADLINE_S + 3)

    def test_one_address_holds_at_most_its_share(self):
        with Agent(SCENARIO) as agent:
            port = port_of(agent)
            socks = []
            for _ in range(MAX_PER_IP + 20):
                s = socket.create_connection(("127.0.0.1", port), timeout=2,
                                             source_address=("127.0.0.3", 0))
                socks.append(s)
            time.sleep(1)
            # those past the share are closed at once; the rest wait for
            # their deadline
            refused = 0
            for s in socks:
                s.settimeout(0.2)
                try:
                    if s.recv(1) == b"":
                        refused += 1
                except socket.timeout:
                    pass
                except OSError:
                    refused += 1
            for s in socks:
                s.close()
            self.assertEqual(refused, 20)
            self.assertEqual(agent.get("/health")[0], 200)


class TokenAgent(Agent):
    """An agent with a token; get() sends it unless told otherwise."""

    def get(self, path, headers=None, method="GET", token=True):
        h = dict(headers or {})
        if token:
            h.setdefault("Authorization", "Bearer " + TOKEN)
        return Agent.get(self, path, headers=h, method=method)


class Token(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="gpulse-token-")
        cls.token_file = os.path.join(cls.dir, "token")
        with open(cls.token_file, "w") as f:
            f.write(TOKEN + "\n")
        cls.agent = TokenAgent(SCENARIO, args=[
            "--set", "http.token_file=" + cls.token_file,
            "--set", "http.allowed_hosts=gpus.example.org, dash.lab"]).__enter__()
        cls.port = port_of(cls.agent)

    @classmethod
    def tearDownClass(cls):
        cls.agent.__exit__(None, None, None)
        shutil.rmtree(cls.dir)

    def test_everything_but_health_needs_the_token(self):
        self.assertEqual(self.agent.get("/health", token=False)[0], 200)
        for path in ("/", "/api/v1/now", "/metrics", "/api/v1/history", "/gpu-activity.svg",
                     "/assets/app.js"):
            code, headers, body = self.agent.get(path, token=False)
            self.assertEqual(code, 401, path)
            self.assertTrue(headers["www-authenticate"].startswith("Bearer"), path)
            self.assertEqual(json.loads(body)["error"]["status"], 401)
            wrong = self.agent.get(path, headers={"Authorization": "Bearer " + TOKEN[:-1] + "0"})
            self.assertEqual(wrong[0], 401, path)
            self.assertEqual(self.agent.get(path)[0], 200, path)

    def test_the_dashboard_gets_the_token_once_in_its_address(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request("GET", "/?token=" + TOKEN)
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 303)
        self.assertEqual(r.getheader("Location"), "/")
        cookie = r.getheader("Set-Cookie")
        self.assertIn("gpulse_token=" + TOKEN, cookie)
        for attr in ("HttpOnly", "SameSite=Strict", "Path=/"):
            self.assertIn(attr, cookie)
        jar = cookie.split(";")[0]
        for path in ("/", "/api/v1/now", "/api/v1/history?from=-5m"):
            c.request("GET", path, headers={"Cookie": "theme=x; " + jar})
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 200, path)
        c.request("GET", "/?token=wrong-token-0123456789")
        r = c.getresponse()
        body = r.read()
        self.assertEqual(r.status, 401)
        self.assertEqual(json.loads(body)["error"]["parameter"], "token")
        c.close()

    def test_allowed_hosts_are_served(self):
        for host in ("gpus.example.org:%d" % self.port, "dash.lab", "DASH.LAB:%d" % self.port):
            self.assertEqual(self.agent.get("/api/v1/info", headers={"Host": host})[0], 200, host)
        self.assertEqual(self.agent.get("/api/v1/info", headers={"Host": "example.org"})[0], 421)

    def test_the_token_is_not_printed_back(self):
        p = run(["config", "--set", "http.token=" + TOKEN])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn(TOKEN, p.stdout)
        self.assertIn("(hidden)", p.stdout)

    def test_bad_token_settings_are_named(self):
        for args, words in (
                (["--set", "http.token=short"], ["http.token", "16"]),
                (["--set", "http.token_file=/nonexistent/gpulse-token"],
                 ["http.token_file", "/nonexistent/gpulse-token"]),
                (["--set", "http.token=" + TOKEN, "--set", "http.token_file=" + self.token_file],
                 ["both"])):
            p = run(["agent", "--database", os.path.join(self.dir, "x.db"), "--listen",
                     "127.0.0.1:0"] + args, SCENARIO, timeout=20)
            self.assertNotEqual(p.returncode, 0, args)
            for w in words:
                self.assertIn(w, p.stderr, args)
            self.assertNotIn("Traceback", p.stderr)

    def test_a_token_file_without_a_token_is_refused_not_ignored(self):
        # an empty or truncated secrets file must not leave the agent open
        for text in ("", "\n", "\n" + TOKEN + "\n"):
            path = os.path.join(self.dir, "empty-token")
            with open(path, "w") as f:
                f.write(text)
            p = run(["agent", "--database", os.path.join(self.dir, "y.db"), "--listen",
                     "127.0.0.1:0", "--set", "http.token_file=" + path], SCENARIO, timeout=20)
            self.assertEqual(p.returncode, 1, (text, p.stderr))
            self.assertIn("http.token_file: a token is at least 16", p.stderr, text)

    def test_config_refuses_malformed_token_and_hosts_with_exit_2(self):
        for key, value in (("http.token", "short"), ("http.token", "x" * 20 + " y"),
                           ("http.allowed_hosts", "bad host!")):
            p = run(["config", "--set", "%s=%s" % (key, value)], SCENARIO, timeout=20)
            self.assertEqual(p.returncode, 2, (key, value, p.stderr))
            self.assertIn(key, p.stderr)


class Beyond(unittest.TestCase):
    def test_listening_beyond_loopback_without_a_token_warns(self):
        agent = Agent(SCENARIO, args=["--listen", "0.0.0.0:0"])
        with agent:
            self.assertEqual(agent.get("/health")[0], 200)
        self.assertIn("without a token", agent.stderr)


class TlsAgent(Agent):
    def __init__(self, *a, cafile=None, **kw):
        Agent.__init__(self, *a, **kw)
        self.ctx = ssl.create_default_context(cafile=cafile)

    def get(self, path, headers=None, method="GET"):
        req = urllib.request.Request(self.url.rstrip("/") + path, headers=headers or {},
                                     method=method)
        try:
            with urllib.request.urlopen(req, timeout=20, context=self.ctx) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def make_cert(directory, name):
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    return cert, key


@unittest.skipUnless(shutil.which("openssl"), "openssl makes the test certificate")
class Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="gpulse-tls-")
        cls.cert, cls.key = make_cert(cls.dir, "a")
        cls.other_cert, cls.other_key = make_cert(cls.dir, "b")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def test_https_with_the_configured_certificate(self):
        agent = TlsAgent(SCENARIO, cafile=self.cert,
                         args=["--set", "http.tls_cert=" + self.cert,
                               "--set", "http.tls_key=" + self.key,
                               "--set", "http.token=" + TOKEN])
        with agent:
            self.assertTrue(agent.url.startswith("https://127.0.0.1:"), agent.url)
            self.assertEqual(agent.get("/health")[0], 200)
            code, _, body = agent.get("/api/v1/now",
                                      headers={"Authorization": "Bearer " + TOKEN})
            self.assertEqual(code, 200)
            self.assertEqual(json.loads(body)["schema"], "gpulse.now.v1")
            # the dashboard's cookie is Secure over TLS
            c = http.client.HTTPSConnection("127.0.0.1", port_of(agent), timeout=10,
                                            context=agent.ctx)
            c.request("GET", "/?token=" + TOKEN)
            r = c.getresponse()
            r.read()
            c.close()
            self.assertEqual(r.status, 303)
            self.assertIn("; Secure", r.getheader("Set-Cookie"))
            # plain HTTP on the TLS port is not served
            try:
                out = raw_exchange(port_of(agent),
                                   b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            except ConnectionResetError:
                out = b""
            self.assertFalse(out.startswith(b"HTTP/1.1 200"))
            # curl agrees, where installed
            if shutil.which("curl"):
                p = subprocess.run(["curl", "-sS", "--cacert", self.cert,
                                    "-H", "Authorization: Bearer " + TOKEN,
                                    agent.url.replace("127.0.0.1", "localhost") + "api/v1/info"],
                                   capture_output=True, text=True, timeout=20)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(json.loads(p.stdout)["schema"], "gpulse.info.v1")

    def test_bad_certificate_files_are_named(self):
        not_pem = os.path.join(self.dir, "not.pem")
        with open(not_pem, "w") as f:
            f.write("hello\n")
        cases = (
            ([self.cert, None], ["http.tls_key"]),
            ([not_pem, self.key], ["http.tls_cert", not_pem]),
            ([self.cert, self.cert], ["http.tls_key", self.cert]),
            ([self.cert, "/nonexistent/key.pem"], ["http.tls_key", "/nonexistent/key.pem"]),
            ([self.cert, self.other_key], ["http.tls_cert", "http.tls_key", "match"]),
        )
        for (cert, key), words in cases:
            args = ["--set", "http.tls_cert=" + cert]
            if key:
                args += ["--set", "http.tls_key=" + key]
            p = run(["agent", "--database", os.path.join(self.dir, "x.db"), "--listen",
                     "127.0.0.1:0"] + args, SCENARIO, timeout=20)
            self.assertNotEqual(p.returncode, 0, (cert, key))
            for w in words:
                self.assertIn(w, p.stderr, (cert, key))


def vm_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(field)


def sanitized(binary):
    """True when binary is built with Address- or ThreadSanitizer, whose
    shadow memory says nothing about gpulse's own."""
    with open(binary, "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"__tsan_init" in data


def unsanitized_binary():
    """The binary under test, or, when it is sanitized (as in CI), the same
    sources built without a sanitizer: GPULSE_PLAIN_BIN, else the clang
    build scripts/test.sh makes (build-clang)."""
    for b in (GPULSE, os.environ.get("GPULSE_PLAIN_BIN"),
              os.path.join(SOURCE_DIR, "build-clang", "gpulse")):
        if b and os.path.exists(b) and not sanitized(b):
            return b
    return None


class Memory(unittest.TestCase):
    """A file sampled every second read by an agent set to an hour: every
    answer stays within its points, and the agent's peak memory within the
    bound docs/http.md gives."""

    GPUS = 6

    def test_peak_memory_under_many_large_history_requests(self):
        binary = unsanitized_binary()
        self.assertIsNotNone(binary, "no gpulse built without a sanitizer to measure: build "
                             "build-clang (scripts/test.sh does) or set GPULSE_PLAIN_BIN")
        d = tempfile.mkdtemp(prefix="gpulse-mem-")
        try:
            db = os.path.join(d, "dense.db")
            scen = write_scenario({"gpus": [{"metrics": {"utilization_gpu": {
                "pattern": "square", "high": 90, "low": 5, "period_s": 600, "duty": 0.5}}}
                for _ in range(self.GPUS)]})
            p = subprocess.run([GEN, "--scenario", scen, "--database", db, "--from", "-26h",
                                "--to", "-1m", "--interval", "1s", "--no-processes",
                                "--timezone", "UTC"], capture_output=True, text=True, timeout=300)
            os.unlink(scen)
            self.assertEqual(p.returncode, 0, p.stderr)
            agent = Agent({"gpus": [{}] * self.GPUS}, database=db, interval="1h",
                          env={"TZ": "UTC"})
            agent.argv[0] = binary
            with agent:
                pid = agent.proc.pid
                # the caches, pools and threads of a served agent
                for path in ("/", "/api/v1/info", "/metrics", "/api/v1/history?from=-1h"):
                    agent.get(path)
                base_kib = vm_kib(pid, "VmRSS")
                biggest = [0]
                errors = []
                metric_sets = ("utilization_gpu_pct,memory_used_bytes,temperature_c,power_mw",
                               "utilization_gpu_pct", "temperature_c,power_mw")

                def client(k):
                    for i in range(12):
                        points = (10000, 5000, 100)[i % 3]
                        q = "/api/v1/history?from=-%dm&to=-%dm&points=%d&metrics=%s" % (
                            25 * 60 - 7 * (k * 12 + i), 2 + k + i, points,
                            metric_sets[(k + i) % 3])
                        code, _, body = agent.get(q)
                        if code != 200:
                            errors.append((q, code, body[:200]))
                            continue
                        biggest[0] = max(biggest[0], len(body))
                        doc = json.loads(body)
                        self.assertEqual(len(doc["series"]), self.GPUS)
                        for s in doc["series"]:
                            if len(s["t_ms"]) > points:
                                errors.append((q, "%d points" % len(s["t_ms"])))

                threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                self.assertEqual(errors, [])
                # "raw" over a day of 1 s samples at 1 h: chosen from what is stored
                doc = agent.json("/api/v1/history?from=-25h&to=-1h&points=10000")
                self.assertNotEqual(doc["resolution"], "raw")
                self.assertLessEqual(max(len(s["t_ms"]) for s in doc["series"]), 10000)
                doc = agent.json("/api/v1/history?from=-61m&to=-60m&points=10000")
                self.assertEqual(doc["resolution"], "raw")
                peak_kib = vm_kib(pid, "VmHWM")
            # docs/http.md: the agent as started, SQLite's page caches (one
            # reader per server thread, 16 MiB each), the answers cache,
            # the rows of the answers being made and their bodies.
            bound = (base_kib * 1024 + 4 * 16 * MIB + 4 * MIB
                     + 2 * ROW_BYTES * (10000 + 2) * self.GPUS + 3 * biggest[0])
            self.assertLess(peak_kib * 1024, bound,
                            "peak %.0f MiB over the bound %.0f MiB (started at %.0f MiB)"
                            % (peak_kib / 1024, bound / MIB, base_kib / 1024))
            print("memory: started %.1f MiB, peak %.1f MiB, bound %.1f MiB, largest answer "
                  "%.1f MiB" % (base_kib / 1024, peak_kib / 1024, bound / MIB, biggest[0] / MIB))
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
