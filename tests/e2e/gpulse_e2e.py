"""Helpers for the end-to-end tests: run the real gpulse binary against the
simulated NVML with a scenario, and evaluate scenario patterns independently
of the C implementation (so a test compares two computations, not one)."""

import json
import math
import os
import sqlite3
import subprocess
import tempfile

SOURCE_DIR = os.environ.get(
    "GPULSE_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD_DIR = os.path.join(SOURCE_DIR, "build")
GPULSE = os.environ.get("GPULSE_BIN", os.path.join(BUILD_DIR, "gpulse"))
# The history generator (tools/gen.c): months of samples through the writer.
GEN = os.environ.get("GPULSE_GEN", os.path.join(BUILD_DIR, "gpulse-gen"))
SIM_DIR = os.environ.get("GPULSE_SIM_DIR", os.path.join(BUILD_DIR, "sim"))
SIM_LIB = os.path.join(SIM_DIR, "libnvidia-ml.so.1")
FIXTURES = os.path.join(SOURCE_DIR, "tests", "fixtures")
MIB = 1024 * 1024

# The simulated NVML spends CPU per call as an H200's driver does unless told
# not to; tests run without that cost (ctest sets it too, and
# test_sim_cost.py turns it back on to check it).
os.environ.setdefault("GPULSE_SIM_CALL_COST", "none")

# The simulated driver's sample period (an H200's, R580: 200 ms).
PERIOD_US = 200000


def write_scenario(scenario):
    """Writes a scenario dict to a temporary file; returns its path."""
    fd, path = tempfile.mkstemp(prefix="gpulse-e2e-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(scenario, f)
    return path


def run(args, scenario=None, env=None, timeout=30, lib=SIM_LIB):
    """Runs gpulse with args; scenario is a dict or a path. Returns the
    CompletedProcess (text mode)."""
    e = dict(os.environ)
    e.pop("GPULSE_SIM_TIME", None)
    e.pop("GPULSE_SIM_EPOCH", None)
    e["GPULSE_NVML_LIB"] = lib
    cleanup = None
    if isinstance(scenario, dict):
        cleanup = write_scenario(scenario)
        e["GPULSE_SIM_SCENARIO"] = cleanup
    elif scenario is not None:
        e["GPULSE_SIM_SCENARIO"] = scenario
    if env:
        e.update(env)
    try:
        return subprocess.run([GPULSE] + list(args), env=e, capture_output=True, text=True,
                              timeout=timeout)
    finally:
        if cleanup:
            os.unlink(cleanup)


def query_db(path, sql, args=()):
    """Runs sql on the database at path, read-only, and returns its rows. A
    query that names samples or process_samples reads the raw samples
    decoded from their blocks by `gpulse db raw`, in the tables schema 3
    kept them in (so a test checks the stored values, not the encoding)."""
    with tempfile.TemporaryDirectory(prefix="gpulse-e2e-raw-") as d:
        con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        try:
            if "samples" in sql:
                raw = os.path.join(d, "raw.db")
                p = run(["db", "raw", raw, "--database", path])
                if p.returncode != 0:
                    raise sqlite3.OperationalError("gpulse db raw: " + p.stderr)
                con.execute("ATTACH ? AS raw", (raw,))
            return con.execute(sql, args).fetchall()
        finally:
            con.close()


def now_json(scenario, env=None, args=()):
    """`gpulse now --format json` parsed; fails loudly on a non-zero exit."""
    p = run(["now", "--format", "json"] + list(args), scenario, env)
    if p.returncode != 0:
        raise AssertionError("gpulse now failed (%d): %s" % (p.returncode, p.stderr))
    return json.loads(p.stdout)


# --------------------------------------------------------------- patterns --

def _splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def _walk(p, k):
    """Value of a random walk in interval k, per sim/README.md."""
    lo, hi = p.get("min", 0), p.get("max", 100)
    v = min(max(p["start"], lo), hi)
    seed = p.get("seed", 0)
    for i in range(1, k + 1):
        r = _splitmix64(seed ^ _splitmix64(i))
        unit = (r >> 11) / 9007199254740992.0 * 2.0 - 1.0
        v = min(max(v + unit * p["step"], lo), hi)
    return v


def _periodic(p):
    if p["pattern"] == "square":
        return p.get("low", 0), p["high"], p["period_s"], p["duty"] * p["period_s"], p.get("phase_s", 0)
    return p.get("low", 0), p["high"], p["every_s"], p["length_s"], p.get("offset_s", 0)


def value_at(p, t):
    """A scenario pattern (number or dict) at scenario time t."""
    if not isinstance(p, dict):
        return p
    kind = p["pattern"]
    if kind == "constant":
        return p["value"]
    if kind in ("square", "bursts"):
        low, high, period, on, phase = _periodic(p)
        return high if (t - phase) % period < on else low
    if kind == "ramp":
        start, dur = p.get("start_s", 0), p["duration_s"]
        if t <= start:
            return p["from"]
        u = t - start
        if p.get("repeat"):
            u = u % dur
        elif u >= dur:
            return p["to"]
        return p["from"] + (p["to"] - p["from"]) * u / dur
    if kind == "random_walk":
        return _walk(p, int(math.floor(t / p.get("interval_s", 1))))
    raise ValueError(kind)


def mean(p, t0, t1, steps=20000):
    """Mean of a pattern over [t0, t1] by fine midpoint sampling."""
    dt = (t1 - t0) / steps
    return sum(value_at(p, t0 + (i + 0.5) * dt) for i in range(steps)) / steps


def integral(p, t, steps=200000):
    """Integral of a pattern over [0, t]: exact for square waves and bursts
    (walking the on-intervals one by one), fine midpoint sampling otherwise."""
    if t <= 0:
        return 0.0
    if isinstance(p, dict) and p["pattern"] in ("square", "bursts"):
        low, high, period, on, phase = _periodic(p)
        on_time = 0.0
        start = phase - math.ceil(phase / period) * period  # first on-interval start <= 0
        while start < t:
            on_time += max(0.0, min(start + on, t) - max(start, 0.0))
            start += period
        return high * on_time + low * (t - on_time)
    return mean(p, 0, t, steps) * t


def last_period(t):
    """The driver's last complete sample period before scenario time t: (start, end) in s."""
    k = int(math.floor(t * 1e6 / PERIOD_US))
    return (k - 1) * PERIOD_US / 1e6, k * PERIOD_US / 1e6


# ------------------------------------------------------------ a live agent --

class Agent:
    """`gpulse agent` serving HTTP on a free loopback port, on a scenario
    (dict or path), with a database in a temporary directory. Use as a
    context manager; .url is the dashboard's address, .get() fetches."""

    def __init__(self, scenario, args=(), env=None, database=None, interval="1s"):
        import tempfile
        self.dir = tempfile.mkdtemp(prefix="gpulse-http-")
        self.database = database or os.path.join(self.dir, "gpulse.db")
        self.scenario_path = None
        e = dict(os.environ)
        e["GPULSE_NVML_LIB"] = SIM_LIB
        if isinstance(scenario, dict):
            self.scenario_path = write_scenario(scenario)
            e["GPULSE_SIM_SCENARIO"] = self.scenario_path
        else:
            e["GPULSE_SIM_SCENARIO"] = scenario
        if env:
            e.update(env)
        self.argv = [GPULSE, "agent", "--database", self.database, "--interval", interval,
                     "--flush-interval", "1s", "--listen", "127.0.0.1:0"] + list(args)
        self.env = e
        self.proc = None
        self.url = None

    def __enter__(self):
        import select
        import time
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 20
        line = ""
        while time.time() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                line = self.proc.stdout.readline()
                break
            if self.proc.poll() is not None:
                break
        if "http://" not in line and "https://" not in line:
            self.__exit__(None, None, None)
            raise AssertionError("the agent did not start serving: %r %s" % (line, self.stderr))
        self.url = line.strip().split(" at ", 1)[1]
        # The first tick is published right after the server starts.
        while time.time() < deadline:
            if self.get("/health")[0] in (200, 503) and self.get("/api/v1/now")[0] == 200:
                break
            time.sleep(0.1)
        return self

    def __exit__(self, *exc):
        import shutil
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr = ""
        if self.proc:
            self.stderr = self.proc.stderr.read()
            self.proc.stdout.close()
            self.proc.stderr.close()
        if self.scenario_path:
            os.unlink(self.scenario_path)
        shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def get(self, path, headers=None, method="GET"):
        """Returns (status, headers dict with lower-case names, body bytes)."""
        import urllib.error
        import urllib.request
        req = urllib.request.Request(self.url.rstrip("/") + path, headers=headers or {},
                                     method=method)
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    def json(self, path):
        status, _, body = self.get(path)
        if status != 200:
            raise AssertionError("%s: %d %s" % (path, status, body[:300]))
        return json.loads(body)

    def wait_for(self, predicate, timeout=15, what="condition"):
        import time
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError("timed out waiting for " + what)
