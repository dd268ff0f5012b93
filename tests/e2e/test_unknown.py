"""Unknown is never zero or empty: a clock-event bit without a name, a
process list the driver refuses, a GPU whose utilization is unreadable and a
day without data each show as unknown in every output (JSON, table, CSV,
/metrics, the processes API, the activity graph), never as 0 or an empty
list that looks like an idle GPU."""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

from gpulse_e2e import GEN, Agent, now_json, run, write_scenario

REFUSED = "nvmlDeviceGetComputeRunningProcesses_v3: Insufficient Permissions"
UNSUPPORTED = "nvmlDeviceGetComputeRunningProcesses_v3: Not Supported"


def scenario(pid):
    return {"gpus": [
        # Runs a process, but the driver will not list it.
        {"name": "Refused", "errors": {"processes": "NO_PERMISSION"},
         "processes": [{"pid": pid, "memory_mib": 100}]},
        {"name": "Unsupported", "unsupported": ["processes"]},
        # Utilization unreadable, a process listed; clocks held by a reason
        # bit gpulse has no name for (0x400) and sw_power_cap (0x4).
        {"name": "Blind", "unsupported": ["utilization", "samples", "process_utilization"],
         "metrics": {"clock_event_reasons": 0x404},
         "processes": [{"pid": pid, "memory_mib": 200}]},
        {"name": "Idle"},
    ]}


class Now(unittest.TestCase):
    def setUp(self):
        self.sleeper = subprocess.Popen(["sleep", "600"])

    def tearDown(self):
        self.sleeper.kill()
        self.sleeper.wait()

    def test_json(self):
        gpus = now_json(scenario(self.sleeper.pid))["gpus"]
        self.assertIsNone(gpus[0]["processes"])
        self.assertEqual(gpus[0]["processes_error"], REFUSED)
        self.assertIsNone(gpus[1]["processes"])
        self.assertEqual(gpus[1]["processes_error"], UNSUPPORTED)
        self.assertEqual([p["pid"] for p in gpus[2]["processes"]], [self.sleeper.pid])
        self.assertIsNone(gpus[2]["processes_error"])
        # An idle GPU is known to have none: [] and no error.
        self.assertEqual(gpus[3]["processes"], [])
        self.assertIsNone(gpus[3]["processes_error"])
        # Every bit is named; the raw mask is there too.
        self.assertEqual(gpus[2]["clock_event_reasons"], 0x404)
        self.assertEqual(gpus[2]["clock_event_reasons_active"], ["sw_power_cap", "unknown_0x400"])
        # No busy time is known: null, not 0.
        self.assertIsNone(gpus[2]["busy_pct"])
        self.assertIsNone(gpus[2]["busy_us"])

    def test_table(self):
        p = run(["now"], scenario(self.sleeper.pid))
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        at = {name: i for i, line in enumerate(lines) for name in ("Refused", "Unsupported",
                                                                     "Blind", "Idle")
              if line.startswith("[") and name in line}
        self.assertEqual(lines[at["Refused"] + 1].strip(), "processes unknown: " + REFUSED)
        self.assertEqual(lines[at["Unsupported"] + 1].strip(), "processes unknown: " + UNSUPPORTED)
        self.assertIn("sw_power_cap unknown_0x400", lines[at["Blind"]])
        self.assertIn("N/A busy", lines[at["Blind"]])
        self.assertIn(str(self.sleeper.pid), lines[at["Blind"] + 1])
        self.assertNotIn("processes unknown", "\n".join(lines[at["Blind"]:]))

    def test_csv(self):
        p = run(["now", "--format", "csv"], scenario(self.sleeper.pid))
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = [r.split(",") for r in p.stdout.splitlines()]
        head = rows[0]
        self.assertEqual(head[-2:], ["process_count", "processes_error"])
        count, error = head.index("process_count"), head.index("processes_error")
        self.assertEqual((rows[1][count], rows[1][error]), ("", REFUSED))
        self.assertEqual((rows[2][count], rows[2][error]), ("", UNSUPPORTED))
        self.assertEqual((rows[3][count], rows[3][error]), ("1", ""))
        self.assertEqual((rows[4][count], rows[4][error]), ("0", ""))
        self.assertEqual(rows[3][head.index("clock_event_reasons")], str(0x404))
        p = run(["now", "--format", "csv", "--processes"], scenario(self.sleeper.pid))
        self.assertEqual(p.returncode, 0, p.stderr)
        gpus = [r.split(",")[1] for r in p.stdout.splitlines()[1:]]
        self.assertEqual(gpus, ["2"])
        # What the rows cannot say goes to standard error.
        self.assertIn("GPU 0: its processes are unknown (%s); it has no rows" % REFUSED, p.stderr)
        self.assertIn("GPU 1: its processes are unknown (%s)" % UNSUPPORTED, p.stderr)


class Agent_(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sleeper = subprocess.Popen(["sleep", "600"])
        cls.agent = Agent(scenario(cls.sleeper.pid)).__enter__()
        cls.agent.wait_for(lambda: cls.agent.json("/api/v1/processes?active=true")["count"] == 1,
                           what="the process stored")

    @classmethod
    def tearDownClass(cls):
        cls.agent.__exit__(None, None, None)
        cls.sleeper.kill()
        cls.sleeper.wait()

    @classmethod
    def metrics(cls):
        status, _, body = cls.agent.get("/metrics")
        assert status == 200
        return body.decode()

    def test_api_now(self):
        gpus = self.agent.json("/api/v1/now")["gpus"]
        self.assertEqual([g["processes_error"] for g in gpus], [REFUSED, UNSUPPORTED, None, None])
        self.assertEqual([g["processes"] is None for g in gpus], [True, True, False, False])

    def test_metrics(self):
        text = self.metrics()
        series = lambda name, gpu: re.findall(r'^%s\{gpu="%d",[^}]*\} (\S+)$' % (name, gpu),
                                              text, re.M)
        # A refused list has no count, not 0, and says it is unknown.
        self.assertEqual(series("gpulse_gpu_processes", 0), [])
        self.assertEqual(series("gpulse_gpu_processes", 1), [])
        self.assertEqual(series("gpulse_gpu_processes", 2), ["1"])
        self.assertEqual(series("gpulse_gpu_processes", 3), ["0"])
        self.assertEqual([series("gpulse_gpu_processes_unknown", g) for g in range(4)],
                         [["1"], ["1"], ["0"], ["0"]])
        # The refused GPU's process is in no per-process series.
        self.assertNotRegex(text, r'gpulse_process_memory_bytes\{[^}]*gpu="0"')
        self.assertRegex(text, r'gpulse_process_memory_bytes\{[^}]*gpu="2"')
        # Busy time never read: no counter stuck at 0.
        self.assertEqual(series("gpulse_gpu_busy_seconds_total", 2), [])
        self.assertEqual(len(series("gpulse_gpu_busy_seconds_total", 3)), 1)
        # The raw mask, as dcgm-exporter's, unknown bits included.
        self.assertEqual(series("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS", 2), [str(0x404)])

    def test_processes_sm_time_unknown(self):
        rows = self.agent.json("/api/v1/processes?active=true")["processes"]
        self.assertEqual([(r["gpu"], r["pid"]) for r in rows], [(2, self.sleeper.pid)])
        self.assertGreater(rows[0]["gpu_seconds"], 0)
        self.assertIsNone(rows[0]["sm_seconds"])
        self.assertIsNone(rows[0]["sm_pct_avg"])

    def test_history_busy_seconds_null(self):
        # Raw samples: a GPU without busy time has null, not 0; the idle one
        # 0 (but for its first sample, which has no window yet).
        def series():
            doc = self.agent.json("/api/v1/history?from=-10m")
            return {s["gpu"]: s for s in doc["series"]}
        self.agent.wait_for(lambda: 0.0 in series().get(3, {}).get("busy_seconds", []),
                            what="busy time stored")
        by_gpu = series()
        self.assertTrue(by_gpu[2]["busy_seconds"])
        self.assertEqual(set(by_gpu[2]["busy_seconds"]), {None})
        self.assertIn(0.0, by_gpu[3]["busy_seconds"])
        self.assertEqual(
            [b is None for b in by_gpu[3]["busy_seconds"]],
            [p is None for p in by_gpu[3]["busy_pct"]])


class StoredProcess(unittest.TestCase):
    def test_running_is_unknown_while_the_list_is_refused(self):
        sleeper = subprocess.Popen(["sleep", "600"])
        tmp = tempfile.mkdtemp(prefix="gpulse-unknown-")
        try:
            db = os.path.join(tmp, "gpulse.db")
            listed = {"gpus": [{"processes": [{"pid": sleeper.pid, "memory_mib": 100}]}]}
            with Agent(listed, database=db) as agent:
                agent.wait_for(lambda: agent.json("/api/v1/processes")["count"] == 1,
                               what="the process stored")
                self.assertIs(agent.json("/api/v1/processes")["processes"][0]["active"], True)
            # The same GPU and process, but the driver now refuses the list.
            listed["gpus"][0]["errors"] = {"processes": "NO_PERMISSION"}
            with Agent(listed, database=db) as agent:
                rows = agent.json("/api/v1/processes")["processes"]
                self.assertEqual([r["pid"] for r in rows], [sleeper.pid])
                self.assertIsNone(rows[0]["active"])
                self.assertIsNone(rows[0]["memory_now_bytes"])
        finally:
            sleeper.kill()
            sleeper.wait()
            shutil.rmtree(tmp, ignore_errors=True)


class LogOnce(unittest.TestCase):
    def test_logged_once_per_gpu(self):
        sleeper = subprocess.Popen(["sleep", "600"])
        try:
            with Agent(scenario(sleeper.pid)) as agent:
                first = agent.json("/api/v1/now")["time_ms"]
                agent.wait_for(lambda: agent.json("/api/v1/now")["time_ms"] >= first + 3000,
                               what="three more ticks")
            log = agent.stderr
        finally:
            sleeper.kill()
            sleeper.wait()
        refused = [l for l in log.splitlines() if "its processes are unknown" in l]
        self.assertEqual(len(refused), 2, log)
        self.assertIn("WARNING", refused[0])
        self.assertIn("GPU 0 ", refused[0])
        self.assertIn(REFUSED, refused[0])
        self.assertIn("GPU 1 ", refused[1])


class ActivityGraph(unittest.TestCase):
    def test_days_without_data_are_not_idle(self):
        tmp = tempfile.mkdtemp(prefix="gpulse-unknown-")
        try:
            db = os.path.join(tmp, "gpulse.db")
            path = write_scenario({"gpus": [{"metrics": {"utilization_gpu": 0}}]})
            # Three idle days, then a week without any data.
            p = subprocess.run([GEN, "--scenario", path, "--database", db, "--from", "-10d",
                                "--to", "-8d", "--interval", "5m", "--timezone", "UTC"],
                               capture_output=True, text=True, timeout=300)
            os.unlink(path)
            self.assertEqual(p.returncode, 0, p.stderr)
            p = run(["svg", "--database", db, "--weeks", "3", "--set", "timezone=UTC"])
            self.assertEqual(p.returncode, 0, p.stderr)
            cells = re.findall(r'data-date="([0-9-]+)" data-level="(\w+)"><title>([^<]*)</title>',
                               p.stdout)
            levels = {date: (level, title) for date, level, title in cells}
            idle = [d for d, (lv, _) in levels.items() if lv == "0"]
            none = [d for d, (lv, _) in levels.items() if lv == "none"]
            self.assertGreaterEqual(len(idle), 2, levels)
            self.assertGreaterEqual(len(none), 7, levels)
            for d in idle:
                self.assertEqual(levels[d][1], "No GPU activity on " + d)
            for d in none:
                self.assertEqual(levels[d][1], "No data on " + d)
            # Idle days come before the days without data, and today has none.
            self.assertLess(max(idle), min(d for d in none if d > max(idle)))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
