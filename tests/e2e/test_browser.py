"""The dashboard in a real browser: Debian's Chromium driven by
playwright-core (tests/browser/dashboard.mjs) against the agent on the
simulated GPUs, with a process whose name is markup."""
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import unittest

from gpulse_e2e import SOURCE_DIR, Agent

HOSTILE = "<img src=x onerror=alert(1)>"
ARTEFACTS = os.environ.get("GPULSE_ARTEFACTS",
                           os.path.join(os.environ.get("GPULSE_BUILD_DIR", "/tmp"), "artefacts"))


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
        node = shutil.which("node")
        chromium = shutil.which("chromium")
        self.assertIsNotNone(node, "node is needed (scripts/install-deps.sh installs it)")
        self.assertIsNotNone(chromium, "chromium is needed (scripts/install-deps.sh installs it)")
        scenario = {
            "gpus": [
                {"name": "NVIDIA H100 80GB HBM3", "metrics": {"utilization_gpu": 63,
                                                              "temperature_c": 58},
                 "processes": [{"pid": self.hostile.pid, "memory_mib": 2048, "sm_pct": 40}]},
                {"name": "NVIDIA A100 80GB PCIe", "metrics": {"utilization_gpu": 7,
                                                              "temperature_c": 41},
                 "processes": [{"pid": self.plain.pid, "memory_mib": 512, "sm_pct": 5}]},
                {"name": "NVIDIA L4", "lost_at_s": 0},
            ]
        }
        expect = {
            "gpus": [
                {"index": 0, "name": "NVIDIA H100 80GB HBM3", "utilization_gpu_pct": 63,
                 "utilization_tolerance": 0, "temperature_c": 58},
                {"index": 1, "name": "NVIDIA A100 80GB PCIe", "utilization_gpu_pct": 7,
                 "utilization_tolerance": 0, "temperature_c": 41},
            ],
            "process_count": 2,
            "hostile_name": HOSTILE,
            "chart_series": 2,
            "filter_user_query": "sleep 600",
            "filter_matches": 1,
            "user": pwd.getpwuid(os.geteuid()).pw_name,
        }
        with Agent(scenario) as agent:
            expect["host"] = agent.json("/api/v1/info")["host"]
            lost = [g for g in agent.json("/api/v1/now")["gpus"] if g["state"] == "lost"]
            self.assertEqual(len(lost), 1)
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
                                agent.url, path, out], capture_output=True, text=True,
                               timeout=180, env=dict(os.environ, CHROMIUM=chromium))
            print(p.stdout)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            for name in ("dashboard-light.png", "dashboard-dark.png"):
                self.assertGreater(os.path.getsize(os.path.join(out, name)), 10000)


if __name__ == "__main__":
    unittest.main()
