"""The dashboard in a real browser: Debian's Chromium driven by
playwright-core (tests/browser/dashboard.mjs) against the agent on the
simulated GPUs, with a process whose name is markup."""
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import unittest

from gpulse_e2e import SOURCE_DIR, Agent, run

HOSTILE = "<img src=x onerror=alert(1)>"
ARTEFACTS = os.environ.get("GPULSE_ARTEFACTS",
                           os.path.join(os.environ.get("GPULSE_BUILD_DIR", "/tmp"), "artefacts"))


def table_temperature_levels(scenario):
    """Each GPU's temperature colour in `gpulse now`'s table, as the
    dashboard names its levels: {index: "" | "warn" | "crit"}."""
    p = run(["now", "--color", "always"], scenario)
    assert p.returncode == 0, p.stderr
    levels = {}
    for m in re.finditer(r"^\[(\d+)\] .*?\| (?:\x1b\[(\d+)m)?\s*\d+°C", p.stdout, re.M):
        levels[int(m.group(1))] = {None: "", "33": "warn", "31": "crit"}[m.group(2)]
    return levels


class TokenAgent(Agent):
    """An agent with http.token set; the test's own requests send it."""

    def __init__(self, scenario, token, **kw):
        Agent.__init__(self, scenario, **kw)
        self.token = token

    def get(self, path, headers=None, method="GET"):
        h = dict(headers or {})
        h.setdefault("Authorization", "Bearer " + self.token)
        return Agent.get(self, path, headers=h, method=method)


class DashboardTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gpulse-browser-")
        # A copy of sleep named like markup: its command name (comm, 15
        # characters) and its command line both carry the tags.
        self.hostile_bin = os.path.join(self.tmp, HOSTILE)
        shutil.copy("/bin/sleep", self.hostile_bin)
        self.hostile = subprocess.Popen([self.hostile_bin, "600"])
        self.plain = subprocess.Popen(["sleep", "600"])

    def tearDown(self):
        for p in (self.hostile, self.plain):
            p.kill()
            p.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_dashboard(self):
        self.check_dashboard()

    def test_dashboard_with_a_token(self):
        """With http.token the page is opened once as /?token=TOKEN, which
        sets the cookie its own requests then carry."""
        self.check_dashboard(token="b7e3f0c1d2a4958677e8f9a0b1c2d3e4")

    def check_dashboard(self, token=None):
        node = shutil.which("node")
        chromium = shutil.which("chromium")
        self.assertIsNotNone(node, "node is needed (scripts/install-deps.sh installs it)")
        self.assertIsNotNone(chromium, "chromium is needed (scripts/install-deps.sh installs it)")
        # Temperatures on both sides of both thresholds: the table and the
        # cards must colour each the same.
        scenario = {
            "gpus": [
                {"name": "NVIDIA H100 80GB HBM3", "metrics": {"utilization_gpu": 63,
                                                              "temperature_c": 89},
                 "processes": [{"pid": self.hostile.pid, "memory_mib": 2048, "sm_pct": 40}]},
                {"name": "NVIDIA A100 80GB PCIe", "metrics": {"utilization_gpu": 7,
                                                              "temperature_c": 41},
                 "processes": [{"pid": self.plain.pid, "memory_mib": 512, "sm_pct": 5}]},
                {"name": "NVIDIA L4", "lost_at_s": 0},
                {"name": "NVIDIA L40S", "metrics": {"utilization_gpu": 20, "temperature_c": 90}},
                # Its process list is refused: unknown, not an idle GPU.
                {"name": "NVIDIA A10", "metrics": {"utilization_gpu": 30, "temperature_c": 79},
                 "errors": {"processes": "NO_PERMISSION"}},
                {"name": "NVIDIA T4", "metrics": {"utilization_gpu": 40, "temperature_c": 80}},
            ]
        }
        expect = {
            "gpus": [
                {"index": 0, "name": "NVIDIA H100 80GB HBM3", "utilization_gpu_pct": 63,
                 "utilization_tolerance": 0, "temperature_c": 89, "processes": 1},
                {"index": 1, "name": "NVIDIA A100 80GB PCIe", "utilization_gpu_pct": 7,
                 "utilization_tolerance": 0, "temperature_c": 41, "processes": 1},
                {"index": 3, "name": "NVIDIA L40S", "utilization_gpu_pct": 20,
                 "utilization_tolerance": 0, "temperature_c": 90, "processes": 0},
                {"index": 4, "name": "NVIDIA A10", "utilization_gpu_pct": 30,
                 "utilization_tolerance": 0, "temperature_c": 79, "processes_unknown": True},
                {"index": 5, "name": "NVIDIA T4", "utilization_gpu_pct": 40,
                 "utilization_tolerance": 0, "temperature_c": 80, "processes": 0},
            ],
            "process_count": 2,
            "hostile_name": HOSTILE,
            "chart_series": 5,
            "filter_user_query": "sleep 600",
            "filter_matches": 1,
            "user": pwd.getpwuid(os.geteuid()).pw_name,
        }
        levels = table_temperature_levels(scenario)
        self.assertEqual([levels[g["index"]] for g in expect["gpus"]],
                         ["warn", "", "crit", "", "warn"], levels)
        for g in expect["gpus"]:
            g["temperature_level"] = levels[g["index"]]
        agent = Agent(scenario)
        if token:
            agent = TokenAgent(scenario, token, args=["--set", "http.token=" + token])
        with agent:
            info = agent.json("/api/v1/info")
            expect["host"] = info["host"]
            # The dashboard colours by the thresholds the agent serves.
            th = info["temperature_thresholds_c"]
            for g in expect["gpus"]:
                t = g["temperature_c"]
                served = "crit" if t >= th["hot"] else "warn" if t >= th["warn"] else ""
                self.assertEqual(served, g["temperature_level"], (t, th))
            now = agent.json("/api/v1/now")["gpus"]
            lost = [g for g in now if g["state"] == "lost"]
            self.assertEqual(len(lost), 1)
            expect["gpus"][3]["processes_error"] = now[4]["processes_error"]
            self.assertIsNotNone(now[4]["processes_error"])
            expect["gpus"].append({"index": 2, "name": "NVIDIA L4", "utilization_gpu_pct": 0,
                                   "utilization_tolerance": 100, "temperature_c": "",
                                   "lost": True})
            # The processes reach the database before the page asks.
            agent.wait_for(lambda: agent.json("/api/v1/processes?active=true")["count"] == 2,
                           what="both processes stored")
            path = os.path.join(self.tmp, "expect.json")
            with open(path, "w") as f:
                json.dump(expect, f)
            out = os.path.join(ARTEFACTS, "browser")
            p = subprocess.run([node, os.path.join(SOURCE_DIR, "tests", "browser", "dashboard.mjs"),
                                agent.url + ("?token=" + token if token else ""), path,
                                out + ("-token" if token else "")],
                               capture_output=True, text=True,
                               timeout=180, env=dict(os.environ, CHROMIUM=chromium))
            print(p.stdout)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            for name in ("dashboard-light.png", "dashboard-dark.png"):
                self.assertGreater(
                    os.path.getsize(os.path.join(out + ("-token" if token else ""), name)), 10000)


if __name__ == "__main__":
    unittest.main()
