"""Rollups, activity and retention end to end: the real agent at 100 ms on
the simulated GPU, and months of history put in place by gpulse-gen
through the same writer. Expected figures are computed here from the raw
samples (or the scenario), never taken from gpulse's own aggregates."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import unittest

from gpulse_e2e import GEN, GPULSE, SIM_LIB, query_db, run, write_scenario

SQUARE = {"sample_period_ms": 100, "gpus": [
    {"name": "Sim A", "metrics": {"power_w": {"pattern": "ramp", "from": 100, "to": 300,
                                              "duration_s": 600, "repeat": True},
                                  "utilization_gpu": {"pattern": "square", "high": 100,
                                                      "period_s": 1, "duty": 0.3}}},
    {"name": "Sim B", "metrics": {"utilization_gpu": {"pattern": "bursts", "high": 80,
                                                      "every_s": 3600, "length_s": 600}}},
]}
DAY = 86400000


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gpulse-rollups-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.db = os.path.join(self.dir, "gpulse.db")
        self.scenario = write_scenario(SQUARE)
        self.addCleanup(os.unlink, self.scenario)

    def query(self, sql, *args):
        return query_db(self.db, sql, args)

    def generate(self, *args):
        p = subprocess.run([GEN, "--scenario", self.scenario, "--database", self.db,
                            "--timezone", "UTC"] + list(args),
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p

    def gpulse(self, *args):
        p = run(list(args) + ["--database", self.db, "--set", "timezone=UTC"])
        self.assertEqual(p.returncode, 0, p.stderr)
        return p

    def assert_minutes_equal_raw(self):
        """Every closed minute holds exactly the raw samples of that minute."""
        rows = self.query(
            "SELECT r.gpu, r.t, r.count, r.busy_us, r.utilization_gpu_pct_sum,"
            " (SELECT count(*) FROM samples s WHERE s.gpu = r.gpu AND s.t >= r.t"
            "  AND s.t < r.t + 60000),"
            " (SELECT sum(busy_us) FROM samples s WHERE s.gpu = r.gpu AND s.t >= r.t"
            "  AND s.t < r.t + 60000),"
            " (SELECT sum(utilization_gpu_pct) FROM samples s WHERE s.gpu = r.gpu"
            "  AND s.t >= r.t AND s.t < r.t + 60000)"
            " FROM rollup_minute r JOIN rollup_state w ON w.gpu = r.gpu AND w.level = 0"
            " WHERE r.t + 60000 > (SELECT min(t) FROM samples) AND r.t < w.through")
        self.assertTrue(rows)
        for gpu, t, count, busy, util, raw_count, raw_busy, raw_util in rows:
            self.assertEqual((count, busy, util), (raw_count, raw_busy, raw_util),
                             "GPU %d minute %d" % (gpu, t))
        # ...and no closed minute that has samples is missing
        missing = self.query(
            "SELECT count(DISTINCT s.gpu || '/' || (s.t / 60000)) FROM samples s"
            " JOIN rollup_state w ON w.gpu = s.gpu AND w.level = 0 WHERE s.t < w.through"
            " AND NOT EXISTS (SELECT 1 FROM rollup_minute r WHERE r.gpu = s.gpu"
            " AND r.t = s.t / 60000 * 60000)")
        self.assertEqual(missing, [(0,)])


class Generated(Base):
    def test_hours_and_days_equal_the_raw_samples(self):
        start = (int(time.time() * 1000) // DAY - 2) * DAY  # two whole UTC days ago
        self.generate("--from", str(start // 1000), "--to", str((start + DAY + 7200000) // 1000),
                      "--interval", "5s", "--no-processes")
        self.assert_minutes_equal_raw()
        # hour and day buckets from `gpulse history` against Python's sums
        for step, width in (("hour", 3600000), ("day", DAY)):
            out = self.gpulse("history", "--from", str(start // 1000), "--to",
                              str((start + DAY) // 1000), "--step", step, "--gpu", "0",
                              "--metrics", "utilization_gpu_pct,power_mw", "--format", "json")
            doc = json.loads(out.stdout)
            self.assertEqual(doc["resolution"], {"hour": "1h", "day": "1d"}[step])
            self.assertEqual((doc["from_ms"], doc["to_ms"], doc["step_ms"]),
                             (start, start + DAY, width))
            self.assertEqual([s["gpu"] for s in doc["series"]], [0])
            series = doc["series"][0]
            self.assertEqual(series["t_ms"], list(range(start, start + DAY, width)))
            for k, t in enumerate(series["t_ms"]):
                count, util, power, busy, window, pmin, pmax = self.query(
                    "SELECT count(*), avg(utilization_gpu_pct), avg(power_mw), sum(busy_us),"
                    " sum(window_us), min(power_mw), max(power_mw) FROM samples s"
                    " JOIN gpus g ON g.id = s.gpu WHERE g.idx = 0 AND t >= ? AND t < ?",
                    t, t + width)[0]
                self.assertEqual(series["samples"][k], count)
                # written at the precision that means something: percentages
                # to 2 decimals, milliwatts whole
                self.assertAlmostEqual(series["utilization_gpu_pct"][k], util, delta=0.005)
                self.assertAlmostEqual(series["power_mw"][k], power, delta=0.5)
                self.assertEqual((series["min"]["power_mw"][k], series["max"]["power_mw"][k]),
                                 (pmin, pmax))
                self.assertAlmostEqual(series["busy_pct"][k], 100.0 * busy / window, delta=0.005)
        # energy: the counter's rise over the day, which the scenario's power ramp sets
        # (the generator's first sample is at start: no delta before it)
        e0, e1 = (self.query("SELECT energy_mj FROM samples s JOIN gpus g ON g.id = s.gpu"
                             " WHERE g.idx = 0 AND t = ?", t)[0][0]
                  for t in (start, start + DAY - 5000))
        used = self.query("SELECT energy_mj FROM rollup_day r JOIN gpus g ON g.id = r.gpu"
                          " WHERE g.idx = 0 AND r.t = ?", start)[0][0]
        self.assertEqual(used, e1 - e0)

    def test_counters_and_bit_masks_are_not_averaged(self):
        """A counter shows its last reading and its growth, the clock-event
        reasons the OR of the masks read, in hour and day buckets alike."""
        # power capping (0x4) for 20 minutes of each 3 hours, idle (0x1) otherwise
        scenario = write_scenario({"gpus": [{"name": "Sim A", "metrics": {
            "power_w": {"pattern": "ramp", "from": 100, "to": 300, "duration_s": 5000,
                        "repeat": True},
            "clock_event_reasons": {"pattern": "bursts", "low": 1, "high": 4,
                                    "every_s": 10800, "length_s": 1200}}}]})
        self.addCleanup(os.unlink, scenario)
        self.scenario = scenario
        start = (int(time.time() * 1000) // DAY - 2) * DAY
        self.generate("--from", str(start // 1000), "--to", str((start + DAY) // 1000),
                      "--interval", "30s", "--no-processes")
        for step, width in (("hour", 3600000), ("day", DAY)):
            doc = json.loads(self.gpulse(
                "history", "--from", str(start // 1000), "--to", str((start + DAY) // 1000),
                "--step", step, "--gpu", "0", "--metrics", "energy_mj,clock_event_reasons",
                "--format", "json").stdout)
            series = doc["series"][0]
            self.assertNotIn("min", series)  # neither kind has an average, minimum, maximum
            saw = set()
            for k, t in enumerate(series["t_ms"]):
                rows = self.query(
                    "SELECT energy_mj, clock_event_reasons FROM samples s JOIN gpus g"
                    " ON g.id = s.gpu WHERE g.idx = 0 AND t >= ? AND t < ?", t, t + width)
                energy = [e for e, _ in rows]
                mask = 0
                for _, bits in rows:
                    mask |= bits
                saw.add(mask)
                self.assertEqual(series["energy_mj"][k], max(energy), "%s %d" % (step, t))
                self.assertEqual(series["delta"]["energy_mj"][k], max(energy) - min(energy))
                self.assertEqual(series["clock_event_reasons"][k], mask, "%s %d" % (step, t))
            # a day holds both reasons; so does an hour with a burst, and others only idle
            self.assertEqual(saw, {5} if step == "day" else {1, 5})
            csv = self.gpulse("history", "--from", str(start // 1000), "--to",
                              str((start + DAY) // 1000), "--step", step, "--gpu", "0",
                              "--metrics", "energy_mj,clock_event_reasons",
                              "--format", "csv").stdout.splitlines()
            self.assertTrue(csv[0].endswith(",energy_mj_last,energy_mj_delta,"
                                            "clock_event_reasons_or"), csv[0])

    def test_ranges_older_than_the_raw_samples_come_from_the_rollups(self):
        """Retention deletes raw samples first (30 days): two hours 35 days
        ago are answered from the minute rollups, not as an empty chart."""
        now = int(time.time())
        self.generate("--from", str(now - 40 * 86400), "--interval", "1m", "--no-processes",
                      "--prune")
        oldest_raw = self.query("SELECT min(t) FROM samples")[0][0]
        start = (now - 35 * 86400) // 60 * 60
        self.assertLess(start * 1000, oldest_raw)  # the raw samples are gone there
        for points in ("1000", "10000"):
            doc = json.loads(self.gpulse(
                "history", "--from", str(start), "--to", str(start + 7200), "--gpu", "0",
                "--points", points, "--metrics", "utilization_gpu_pct",
                "--format", "json").stdout)
            self.assertEqual(doc["resolution"], "1min")
            series = doc["series"][0]
            self.assertEqual(len(series["t_ms"]), 120)
            for k, t in enumerate(series["t_ms"]):
                count, total = self.query(
                    "SELECT r.count, r.utilization_gpu_pct_sum FROM rollup_minute r"
                    " JOIN gpus g ON g.id = r.gpu WHERE g.idx = 0 AND r.t = ?", t)[0]
                self.assertEqual(series["samples"][k], count)
                self.assertAlmostEqual(series["utilization_gpu_pct"][k], total / count,
                                       delta=0.005)

    def test_points_bound_the_answer(self):
        start = (int(time.time() * 1000) // DAY - 2) * DAY
        self.generate("--from", str(start // 1000), "--to", str((start + DAY) // 1000),
                      "--interval", "10s", "--no-processes")
        # (points, step) -> the finest resolution with at most that many rows
        # per GPU (docs/json.md), for the whole generated day
        cases = {(1, None): "1d", (5, None): "6h", (10, None): "3h", (24, None): "1h",
                 (100, None): "15min", (1000, None): "2min", (24, "hour"): "1h",
                 (1000, "minute"): "2min", (2000, "minute"): "1min", (1000, "day"): "1d",
                 (8640, None): "10s"}
        for (points, step), resolution in sorted(cases.items(), key=str):
            args = ["--from", str(start // 1000), "--to", str((start + DAY) // 1000),
                    "--points", str(points), "--metrics", "power_mw"]
            args += ["--step", step] if step else []
            doc = json.loads(self.gpulse("history", "--format", "json", *args).stdout)
            self.assertEqual((doc["resolution"], doc["points"]), (resolution, points))
            self.assertEqual([s["gpu"] for s in doc["series"]], [0, 1])
            for s in doc["series"]:
                self.assertLessEqual(len(s["t_ms"]), points, (points, step))
                # every sample of the range is in exactly one bucket
                self.assertEqual(sum(s["samples"]), self.query(
                    "SELECT count(*) FROM samples s JOIN gpus g ON g.id = s.gpu"
                    " WHERE g.idx = ? AND t >= ? AND t < ?", s["gpu"], start, start + DAY)[0][0])
            # CSV and the table: one row per bucket per GPU, from the same buckets
            rows = sum(len(s["t_ms"]) for s in doc["series"])
            csv = self.gpulse("history", "--format", "csv", *args).stdout.splitlines()
            self.assertEqual(csv[0], "gpu,time,samples,busy_pct,busy_seconds,energy_j,"
                                     "power_mw_avg,power_mw_min,power_mw_max")
            self.assertEqual(len([r for r in csv[1:] if r]), rows)
            table = self.gpulse("history", *args).stdout.splitlines()
            self.assertEqual(len(table), rows + 1)
        # more samples than points, although the configured interval (1 s)
        # says they fit: buckets all the same
        self.generate("--from", str((start + DAY) // 1000), "--to", str((start + DAY) // 1000 + 60),
                      "--interval", "100ms", "--no-processes")
        doc = json.loads(self.gpulse("history", "--from", str((start + DAY) // 1000), "--to",
                                     str((start + DAY) // 1000 + 60), "--points", "100",
                                     "--gpu", "0", "--format", "json").stdout)
        self.assertEqual(doc["resolution"], "2s")
        self.assertEqual(len(doc["series"][0]["t_ms"]), 30)
        self.assertEqual(sum(doc["series"][0]["samples"]), 600)

    def test_activity_counts_the_busy_minutes(self):
        start = (int(time.time() * 1000) // DAY - 3) * DAY
        self.generate("--from", str(start // 1000), "--to", str((start + 2 * DAY + 60000) // 1000),
                      "--interval", "10s", "--no-processes")
        out = self.gpulse("activity", "--gpu", "all", "--weeks", "2", "--format", "json")
        days = [d for d in json.loads(out.stdout)["days"] if d["gpu"] == 1]
        self.assertEqual(len(days), 2)
        # Sim B bursts at 80% for the first 10 minutes of every hour; a
        # sample's busy time covers the interval before it, so the minute
        # after a burst holds its last 10 s. Computed from the raw samples:
        for n, d in enumerate(days):
            minutes = self.query(
                "SELECT 100.0 * sum(busy_us) / sum(window_us), max(utilization_gpu_pct)"
                " FROM samples s JOIN gpus g ON g.id = s.gpu WHERE g.idx = 1"
                " AND t >= ? AND t < ? GROUP BY t / 60000",
                start + n * DAY, start + (n + 1) * DAY)
            self.assertEqual(len(minutes), 1440)
            self.assertEqual(d["active_minutes"], sum(1 for m in minutes if m[0] >= 1.0))
            self.assertGreaterEqual(d["active_minutes"], 24 * 10)
            self.assertEqual(d["peak_pct"], max(m[1] for m in minutes))
            # JSON percentages have 2 decimals: the mean, rounded
            self.assertAlmostEqual(d["avg_pct"], sum(m[0] for m in minutes) / 1440, delta=0.005)
            self.assertEqual(d["avg_pct"], round(d["avg_pct"], 2))
        machine = [d for d in json.loads(out.stdout)["days"] if d["gpu"] == "all"]
        # Sim A's square wave is busy every minute, so the machine is too
        self.assertEqual(machine[0]["active_minutes"], 1440)
        self.assertEqual(machine[0]["active_gpu_minutes"], 1440 + days[0]["active_minutes"])

    def test_retention_removes_exactly_what_is_older_than_the_limits(self):
        now = int(time.time() * 1000)
        self.generate("--from", str((now - 100 * DAY) // 1000), "--interval", "10m",
                      "--no-processes")
        counts = {}
        for table, limit in (("samples", 30), ("rollup_minute", 90), ("rollup_hour", 730),
                             ("rollup_day", None)):
            counts[table] = self.query("SELECT count(*), min(t) FROM %s" % table)[0]
        before = int(time.time() * 1000)
        kept = {t: self.query("SELECT count(*) FROM %s WHERE t >= ?" % t, before - d * DAY)[0][0]
                for t, d in (("samples", 30), ("rollup_minute", 90))}
        self.gpulse("db", "prune")
        after = int(time.time() * 1000)
        self.assertEqual(self.query("SELECT count(*) FROM samples WHERE t < ?",
                                    after - 30 * DAY - 60000), [(0,)])
        self.assertEqual(self.query("SELECT count(*) FROM samples WHERE t >= ?",
                                    before - 30 * DAY), [(kept["samples"],)])
        self.assertEqual(self.query("SELECT count(*) FROM rollup_minute WHERE t < ?",
                                    after - 90 * DAY - 60000), [(0,)])
        self.assertEqual(self.query("SELECT count(*) FROM rollup_minute WHERE t >= ?",
                                    before - 90 * DAY), [(kept["rollup_minute"],)])
        # hours (2 years) and days (forever) are all still there
        for table in ("rollup_hour", "rollup_day"):
            self.assertEqual(self.query("SELECT count(*), min(t) FROM %s" % table)[0],
                             counts[table])
        self.assertLess(counts["samples"][1], before - 30 * DAY)  # something was old enough
        check = self.gpulse("db", "check")
        self.assertIn("ok", check.stdout)


class Agent(Base):
    def agent(self, *args):
        env = dict(os.environ, GPULSE_NVML_LIB=SIM_LIB, GPULSE_SIM_SCENARIO=self.scenario)
        env.pop("GPULSE_SIM_TIME", None)
        return subprocess.Popen([GPULSE, "agent", "--database", self.db, "--listen", "127.0.0.1:0",
                                 "--interval", "100ms",
                                 "--flush-interval", "500ms"] + list(args),
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def stop(self, p):
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 0, err)

    def test_square_wave_of_30_percent_is_30_percent_busy(self):
        p = self.agent()
        time.sleep(4.5)
        self.stop(p)
        rows = self.query("SELECT s.t, s.busy_us, s.window_us FROM samples s JOIN gpus g"
                          " ON g.id = s.gpu WHERE g.name = 'Sim A' ORDER BY s.t")
        self.assertGreater(len(rows), 35)
        # whole periods of the wave: 3 s between two reads, after the first
        # (a pair exactly 3 s apart: a tick the machine ran late would put
        # 3.1 s, not whole periods, between the first pair found)
        i, j = next((a, b) for a in range(2, len(rows)) for b in range(a, len(rows))
                    if abs(rows[b][0] - rows[a][0] - 3000) <= 20)
        busy = sum(r[1] for r in rows[i + 1:j + 1])
        window = sum(r[2] for r in rows[i + 1:j + 1])
        self.assertAlmostEqual(window / 1000.0, rows[j][0] - rows[i][0], delta=40)
        self.assertAlmostEqual(100.0 * busy / window, 30.0, delta=1.0)

    def test_restart_in_the_middle_of_a_minute(self):
        # Start late in a minute so the run crosses into the next one.
        while not 45 <= time.time() % 60 <= 52:
            time.sleep(0.5)
        minute = int(time.time() // 60) * 60000
        first = self.agent()
        time.sleep(2.0)
        self.stop(first)  # mid-minute
        second = self.agent()
        while time.time() * 1000 < minute + 60000 + 1500:
            time.sleep(0.2)
        self.stop(second)
        self.assert_minutes_equal_raw()
        count = self.query("SELECT r.count FROM rollup_minute r JOIN gpus g ON g.id = r.gpu"
                           " WHERE g.name = 'Sim A' AND r.t = ?", minute)
        raw = self.query("SELECT count(*) FROM samples s JOIN gpus g ON g.id = s.gpu"
                         " WHERE g.name = 'Sim A' AND s.t >= ? AND s.t < ?",
                         minute, minute + 60000)
        self.assertEqual(count, raw)
        # both agents' samples are in it, 10 a second less the restart's gap
        started = self.query("SELECT min(t) FROM samples")[0][0]
        expected = (minute + 60000 - started) / 100.0
        self.assertGreater(raw[0][0], expected - 8)
        self.assertLessEqual(raw[0][0], expected + 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
