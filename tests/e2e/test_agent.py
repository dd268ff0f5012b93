"""`gpulse agent` against the simulated NVML with real SQLite files: it
samples on time, stores what it read, stops cleanly, allows one agent per
database, refuses bad files untouched, and survives kill -9."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest

from gpulse_e2e import FIXTURES, GPULSE, SIM_LIB, query_db, run, write_scenario

SCENARIO = {"gpus": [
    {"name": "Sim A", "metrics": {"temperature_c": 61, "power_w": 250,
                                  "utilization_gpu": {"pattern": "square", "high": 100,
                                                      "period_s": 1, "duty": 0.3}},
     "processes": [{"pid": 4242, "memory_mib": 512, "sm_pct": 40}]},
    {"name": "Sim B", "unsupported": ["fan"]},
]}


class AgentTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gpulse-agent-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.db = os.path.join(self.dir, "gpulse.db")
        self.scenario = write_scenario(SCENARIO)
        self.addCleanup(os.unlink, self.scenario)
        self.env = dict(os.environ, GPULSE_NVML_LIB=SIM_LIB, GPULSE_SIM_SCENARIO=self.scenario,
                        GPULSE_SIM_EPOCH=str(time.time() - 30))
        self.env.pop("GPULSE_SIM_TIME", None)

    def agent(self, *args, **kw):
        return subprocess.Popen([GPULSE, "agent", "--database", self.db, "--listen", "127.0.0.1:0"]
                                + list(args),
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, **kw)

    def query(self, sql):
        return query_db(self.db, sql)


class OnceAndDryRun(AgentTest):
    def test_once_stores_one_sample_per_gpu(self):
        p = self.agent("--once", "--proc-root", FIXTURES + "/proc")
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(self.query("SELECT count(*) FROM samples"), [(2,)])
        self.assertEqual(self.query("SELECT name FROM gpus ORDER BY idx"), [("Sim A",), ("Sim B",)])
        self.assertEqual(self.query("SELECT temperature_c, power_mw FROM samples s JOIN gpus g"
                                    " ON g.id = s.gpu WHERE g.name = 'Sim A'"), [(61, 250000)])
        # absent stays NULL, never 0
        self.assertEqual(self.query("SELECT fan_pct FROM samples s JOIN gpus g ON g.id = s.gpu"
                                    " WHERE g.name = 'Sim B'"), [(None,)])
        self.assertEqual(self.query("SELECT pid, user, command, container, memory_max_bytes"
                                    " FROM processes"),
                         [(4242, "nobody", "python3", "docker:4f3c9b1e2d7a", 512 << 20)])
        p = run(["db", "check", "--database", self.db], None)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(": ok", p.stdout)

    def test_processes_lists_who_used_which_gpu(self):
        p = self.agent("--once", "--proc-root", FIXTURES + "/proc")
        self.assertEqual(p.wait(timeout=30), 0)

        def listing(*args):
            r = run(["processes", "--database", self.db, "--format", "json"] + list(args), None)
            self.assertEqual(r.returncode, 0, r.stderr)
            return json.loads(r.stdout)["processes"]

        rows = listing()
        self.assertEqual(len(rows), 1)
        self.assertEqual((rows[0]["pid"], rows[0]["user"], rows[0]["container"], rows[0]["gpu"]),
                         (4242, "nobody", "docker:4f3c9b1e2d7a", 0))
        self.assertEqual(rows[0]["memory_max_bytes"], 512 << 20)
        self.assertAlmostEqual(rows[0]["gpu_seconds"], 1.0, delta=0.01)  # one 1 s period
        self.assertEqual(len(listing("--user", "nobody")), 1)
        self.assertEqual(listing("--user", "root"), [])
        self.assertEqual(len(listing("--gpu", "0")), 1)
        self.assertEqual(listing("--gpu", "1"), [])
        self.assertEqual(listing("--since", "2100-01-01"), [])
        self.assertEqual(len(listing("--since", "-1h", "--active")), 1)
        self.assertEqual(len(listing("--gpu", "all")), 1)
        self.assertEqual(len(listing("--q", "DOCKER:4f3c")), 1)
        self.assertEqual(listing("-q", "nothing-like-it"), [])
        # the API's sort keys, and the CLI's older spellings for scripts
        for key in ("gpu_seconds", "gpu-time", "sm-time", "first-seen", "last_seen", "pid"):
            self.assertEqual(len(listing("--sort", key)), 1, key)
        # Read from the database alone: what only the agent's tick knows is null.
        self.assertEqual((rows[0]["active"], rows[0]["memory_now_bytes"], rows[0]["sm_pct_now"]),
                         (None, None, None))
        r = run(["processes", "--database", self.db], None)
        self.assertIn("nobody", r.stdout)
        self.assertIn("docker:4f3c9b1e2d7a", r.stdout)
        r = run(["processes", "--database", self.db, "--format", "csv"], None)
        self.assertTrue(r.stdout.startswith("gpu_index,gpu_uuid,pid,"))
        for args, message in ((["--since", "yesterday"], "--since: 'yesterday' is not a time"),
                              (["--sort", "size"], "--sort: 'size'"),
                              (["--limit", "-3"], "--limit: '-3'")):
            r = run(["processes", "--database", self.db] + args, None)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(message, r.stderr)

    def test_gpu_monitor_flags_still_work(self):
        p = self.agent("--once")
        self.assertEqual(p.wait(timeout=30), 0)
        r = run(["--show-db", "--database", self.db], None)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("schema version", r.stdout)
        t = self.query("SELECT max(t) FROM samples")[0][0]
        r = run(["--show-collection", str(t // 1000), "--output-format", "json",
                 "--database", self.db], None)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertEqual(doc["resolution"], "raw")
        # both GPUs' samples, the one at TIME
        self.assertEqual([(s["gpu"], s["t_ms"]) for s in doc["series"]], [(0, [t]), (1, [t])])
        r = run(["--dry-run"], self.scenario)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(json.loads(r.stdout)["gpus"]), 2)

    def test_dry_run_prints_and_touches_nothing(self):
        p = self.agent("--once", "--dry-run")
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        doc = json.loads(out)
        self.assertEqual([g["name"] for g in doc["gpus"]], ["Sim A", "Sim B"])
        self.assertFalse(os.path.exists(self.db))

    def test_reused_pid_makes_two_process_rows(self):
        proc = os.path.join(self.dir, "proc")
        shutil.copytree(FIXTURES + "/proc", proc)
        p = self.agent("--once", "--proc-root", proc)
        self.assertEqual(p.wait(timeout=30), 0)
        stat = os.path.join(proc, "4242", "stat")
        with open(stat) as f:
            text = f.read()
        with open(stat, "w") as f:  # the same PID, started later: another process
            f.write(text.replace(" 250000 ", " 260000 "))
        p = self.agent("--once", "--proc-root", proc)
        self.assertEqual(p.wait(timeout=30), 0)
        self.assertEqual(self.query("SELECT pid, start_ticks FROM processes ORDER BY start_ticks"),
                         [(4242, 250000), (4242, 260000)])


class Running(AgentTest):
    def test_sample_count_matches_elapsed_time(self):
        p = self.agent("--interval", "100ms", "--flush-interval", "500ms")
        time.sleep(0.5)
        t0 = time.time()
        time.sleep(3.0)
        t1 = time.time()
        p.send_signal(signal.SIGTERM)
        stopped = time.time()
        out, err = p.communicate(timeout=10)
        self.assertLess(time.time() - stopped, 2.0, "SIGTERM must stop it within 2 s")
        self.assertEqual(p.returncode, 0, err)
        rows = self.query("SELECT t FROM samples s JOIN gpus g ON g.id = s.gpu"
                          " WHERE g.name = 'Sim A' ORDER BY t")
        times = [r[0] / 1000.0 for r in rows]
        within = [t for t in times if t0 <= t < t1]
        self.assertAlmostEqual(len(within), 30, delta=2)
        gaps = [b - a for a, b in zip(times, times[1:])]
        self.assertLess(max(gaps), 0.2, "no bunching or holes at a 100 ms interval")
        # everything up to the stop was flushed
        self.assertGreater(times[-1], t1 - 0.2)
        # accounting: the process was on the GPU the whole time, alone: all
        # the GPU's busy time is its SM time
        gpu_s, sm_s = self.query("SELECT gpu_seconds, sm_seconds FROM processes")[0]
        self.assertAlmostEqual(gpu_s, times[-1] - times[0] + 0.1, delta=0.15)
        # (after the first read, whose window is the second before it)
        busy = self.query("SELECT busy_us FROM samples s JOIN gpus g"
                          " ON g.id = s.gpu WHERE g.name = 'Sim A' ORDER BY t")
        self.assertAlmostEqual(sm_s, sum(b[0] for b in busy[1:]) / 1e6, delta=0.1)

    def test_history_reads_back_what_was_stored(self):
        p = self.agent("--interval", "100ms", "--flush-interval", "300ms")
        time.sleep(3.0)
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=10)

        def history(*args):
            r = run(["history", "--database", self.db, "--from", "-10m", "--format", "json"]
                    + list(args), None)
            self.assertEqual(r.returncode, 0, r.stderr)
            return json.loads(r.stdout)

        raw = history("--gpu", "0", "--step", "raw", "--metrics", "temperature_c,power_mw")
        times = [t for (t,) in self.query("SELECT t FROM samples s JOIN gpus g ON g.id = s.gpu"
                                          " WHERE g.idx = 0 ORDER BY t")]
        stored = len(times)
        self.assertEqual(raw["resolution"], "raw")
        self.assertEqual(raw["metrics"], ["temperature_c", "power_mw"])
        series = raw["series"][0]
        self.assertEqual(series["t_ms"], times)
        self.assertEqual(series["samples"], [1] * stored)
        self.assertTrue(all(t == 61 for t in series["temperature_c"]) and
                        all(p == 250000 for p in series["power_mw"]), series)
        self.assertEqual(history("--gpu", "GPU-none")["series"], [])  # no such GPU
        # a day cut in the local zone: one row, 30 % busy (the square wave's duty)
        day = history("--step", "day", "--gpu", "0")
        self.assertEqual(day["resolution"], "1d")
        series = day["series"][0]
        self.assertEqual(len(series["t_ms"]), 1)
        self.assertEqual(series["samples"], [stored])
        self.assertAlmostEqual(series["busy_pct"][0], 30.0, delta=4.0)
        self.assertEqual((series["power_mw"], series["min"]["power_mw"],
                          series["max"]["power_mw"]), ([250000], [250000], [250000]))
        # the table: field labels and human units (the JSON keeps mW and bytes)
        r = run(["history", "--database", self.db, "--from", "-10m", "--step", "day", "--gpu",
                 "0", "--metrics", "power_mw,memory_used_bytes,temperature_c"], None)
        self.assertEqual(r.returncode, 0, r.stderr)
        head, row = r.stdout.splitlines()
        self.assertEqual(head.split(), ["GPU", "TIME", "SAMPLES", "BUSY", "Power", "Mem", "used",
                                        "Temp"])
        self.assertIn(" 250 W ", row)
        self.assertRegex(row, r" \d+(\.\d)? (GiB|MiB) +61\.0 C$")
        for args, message in ((["--step", "week"], "--step: 'week'"),
                              (["--metrics", "watts"], "--metrics: 'watts'"),
                              (["--from", "now", "--to", "-1h"], "--from must be before --to")):
            r = run(["history", "--database", self.db] + args, None)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(message, r.stderr)

    def test_one_agent_per_database(self):
        first = self.agent("--interval", "200ms")
        time.sleep(0.5)
        second = self.agent("--once")
        out, err = second.communicate(timeout=10)
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=10)
        self.assertEqual(second.returncode, 1)
        self.assertIn("is in use by another gpulse agent (pid %d)" % first.pid, err)
        self.assertEqual(first.returncode, 0)

    def test_log_file_is_reopened_on_sighup(self):
        log = os.path.join(self.dir, "agent.log")
        p = self.agent("--interval", "200ms", "--log-file", log, "--log-level", "info")
        time.sleep(0.6)
        os.rename(log, log + ".1")  # what logrotate does
        p.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=10)
        self.assertEqual(p.returncode, 0)
        with open(log + ".1") as f:
            self.assertIn("sampling 2 GPUs", f.read())
        with open(log) as f:
            text = f.read()
        self.assertIn("log file reopened", text)
        self.assertIn("stopped after", text)

    def test_kill_9_loses_at_most_one_flush(self):
        flush = 0.5
        for i in range(20):
            p = self.agent("--interval", "100ms", "--flush-interval", "%gs" % flush)
            time.sleep(0.8 + (i % 5) * 0.13)
            killed_at = time.time()
            p.kill()
            p.communicate(timeout=10)
            check = run(["db", "check", "--database", self.db], None)
            self.assertEqual(check.returncode, 0, "round %d: %s" % (i, check.stderr))
            last = self.query("SELECT max(t) FROM samples")[0][0] / 1000.0
            self.assertGreater(last, killed_at - flush - 0.3,
                               "round %d lost more than one flush interval" % i)
            # rollups move in the samples' transaction: never ahead, never behind
            self.assertEqual(self.query(
                "SELECT count(*) FROM rollup_minute r JOIN rollup_state w ON w.gpu = r.gpu"
                " AND w.level = 0 WHERE r.t < w.through AND r.count != (SELECT count(*)"
                " FROM samples s WHERE s.gpu = r.gpu AND s.t >= r.t AND s.t < r.t + 60000)"),
                [(0,)], "round %d" % i)


class BadDatabases(AgentTest):
    def test_missing_directory(self):
        self.db = os.path.join(self.dir, "nope", "g.db")
        p = self.agent("--once")
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("directory '%s' does not exist" % os.path.dirname(self.db), err)

    def test_corrupt_file_is_left_alone(self):
        junk = b"not a database " * 100
        with open(self.db, "wb") as f:
            f.write(junk)
        p = self.agent("--once")
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not a gpulse database or is corrupt", err)
        with open(self.db, "rb") as f:
            self.assertEqual(f.read(), junk)

    def test_newer_schema_is_refused(self):
        p = self.agent("--once")
        self.assertEqual(p.wait(timeout=30), 0)
        con = sqlite3.connect(self.db)
        con.execute("PRAGMA user_version = 42")
        con.close()
        p = self.agent("--once")
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("schema version 42, written by a newer gpulse", err)
        # (gpulse db raw refuses the file too: count in the blocks)
        con = sqlite3.connect(self.db)
        self.assertEqual(con.execute("SELECT sum(samples) FROM sample_blocks").fetchall(), [(2,)])
        con.close()

    def test_bad_arguments(self):
        for args, message in ((["--interval", "10ms"], "key 'interval'"),
                              (["--bogus"], "unknown option '--bogus'"),
                              (["--set", "nope=1"], "unknown configuration key 'nope'")):
            p = self.agent(*args)
            out, err = p.communicate(timeout=30)
            self.assertEqual(p.returncode, 2, err)
            self.assertIn(message, err)


class DbRaw(AgentTest):
    def test_raw_samples_decode_into_plain_tables(self):
        p = self.agent("--once", "--proc-root", FIXTURES + "/proc")
        self.assertEqual(p.wait(timeout=30), 0)
        out = os.path.join(self.dir, "raw.db")
        r = run(["db", "raw", out, "--database", self.db])
        self.assertEqual(r.returncode, 0, r.stderr)
        con = sqlite3.connect(out)
        self.assertEqual(con.execute("SELECT count(*), count(temperature_c) FROM samples")
                         .fetchall(), [(2, 2)])
        con.close()
        for args, message in ((["db", "raw"], "raw needs the file to write"),
                              (["db", "info", out], "'info' takes no file")):
            r = run(args + ["--database", self.db])
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(message, r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
