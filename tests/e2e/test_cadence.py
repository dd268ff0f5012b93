"""What the agent asks the driver, counted from its own /metrics: only cheap
calls every tick; the sample buffer every few seconds with busy time still
exact; the energy counter once a minute with energy between from power;
per-process utilization only on a shared busy GPU; a NOT_SUPPORTED call and
ECC mode not asked again. (Counts, not timings: the simulator may be cheap.)"""

import math
import time
import unittest

from gpulse_e2e import Agent, integral, query_db

EPOCH = time.time() - 100.0
PERIOD_S = 0.2  # the driver's sample period, as an H200's
UTIL = {"pattern": "square", "low": 0, "high": 100, "period_s": 2, "duty": 0.3, "phase_s": 0.05}
POWER = {"pattern": "ramp", "from": 100, "to": 600, "duration_s": 20, "repeat": True}

SCENARIO = {
    "sample_period_ms": PERIOD_S * 1000,
    "sample_buffer": 71,
    "gpus": [
        # one process: it gets the GPU's busy time, no per-process read
        {"metrics": {"utilization_gpu": UTIL, "power_w": POWER},
         "processes": [{"pid": 4194301, "memory_mib": 100, "sm_pct": 40}]},
        # two processes sharing a busy GPU: per-process utilization, once a second
        {"metrics": {"utilization_gpu": 50},
         "processes": [{"pid": 4194302, "memory_mib": 100, "sm_pct": 20},
                       {"pid": 4194303, "memory_mib": 100, "sm_pct": 30}]},
        # no fan: asked once
        {"unsupported": ["fan"], "metrics": {"utilization_gpu": 10}},
        # two processes on an idle GPU: nothing to share out
        {"metrics": {"utilization_gpu": 0},
         "processes": [{"pid": 4194304, "memory_mib": 100},
                       {"pid": 4194300, "memory_mib": 100}]},
    ],
}
GPUS = 4


def parse_calls(text):
    calls, ticks = {}, None
    for line in text.splitlines():
        if line.startswith('gpulse_nvml_calls_total{function="'):
            name = line.split('"')[1]
            calls[name] = int(float(line.rsplit(" ", 1)[1]))
        elif line.startswith("gpulse_agent_ticks_total "):
            ticks = int(float(line.split()[1]))
    return calls, ticks


class Cadence(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = Agent(SCENARIO, env={"GPULSE_SIM_EPOCH": repr(EPOCH)}, interval="100ms")
        cls.agent.__enter__()
        cls.started = time.time()
        time.sleep(21)
        cls.calls, cls.ticks = parse_calls(cls.agent.get("/metrics")[2].decode())
        cls.elapsed = time.time() - cls.started
        cls.rows = query_db(
            cls.agent.database,
            "SELECT s.t, s.busy_us, s.window_us, s.energy_mj FROM samples s"
            " JOIN gpus g ON g.id = s.gpu WHERE g.uuid = (SELECT uuid FROM gpus ORDER BY id"
            " LIMIT 1) ORDER BY s.t")
        cls.agent.__exit__(None, None, None)

    def test_ticks_ran(self):
        self.assertGreater(self.ticks, 150)

    def test_cheap_calls_every_tick(self):
        # One polled utilization per GPU per read (the reads: ticks + the first).
        util = self.calls["nvmlDeviceGetUtilizationRates"]
        self.assertAlmostEqual(util / GPUS, self.ticks + 1, delta=2)

    def test_sample_buffer_every_few_seconds(self):
        # A size query and a read per GPU per flush interval (1 s here), not per tick.
        samples = self.calls["nvmlDeviceGetSamples"]
        self.assertLessEqual(samples, GPUS * 2 * (self.ticks / 10 + 2))
        self.assertGreaterEqual(samples, GPUS * 2 * (self.ticks / 10 - 2))

    def test_static_values_once(self):
        self.assertEqual(self.calls["nvmlDeviceGetMaxClockInfo"], 3 * GPUS)
        self.assertEqual(self.calls["nvmlDeviceGetEccMode"], GPUS)
        # the energy counter at start only: 21 s is less than a minute
        self.assertEqual(self.calls["nvmlDeviceGetTotalEnergyConsumption"], GPUS)

    def test_not_supported_is_not_asked_again(self):
        # Three GPUs have a fan and are asked every read; the fourth once.
        util = self.calls["nvmlDeviceGetUtilizationRates"]
        self.assertAlmostEqual(self.calls["nvmlDeviceGetFanSpeed"], util * 3 / 4 + 1, delta=3)

    def test_process_utilization_only_where_shared_and_busy(self):
        # One GPU qualifies: a size query and a read about once a second
        # (at least every second, so every per-process sample is seen; at
        # 100 ms ticks, every 0.8 s), where every tick on every GPU would be
        # ten times as many.
        n = self.calls["nvmlDeviceGetProcessUtilization"]
        self.assertLessEqual(n, 2 * (self.elapsed / 0.75 + 3))
        self.assertGreaterEqual(n, 2 * (self.elapsed - 3))

    def test_busy_time_is_exact(self):
        # Every driver sample is in exactly one stored tick: the stored busy
        # time over the ticks' windows equals the scenario's over the same span.
        rows = [r for r in self.rows if r[2]]
        self.assertGreater(len(rows), 100)
        busy = sum(r[1] for r in rows[1:]) / 1e6
        window = sum(r[2] for r in rows[1:]) / 1e6
        # the last window ends at the newest sample before the last tick's read
        end = math.floor((rows[-1][0] / 1000.0 - EPOCH) / PERIOD_S) * PERIOD_S
        expect = (integral(UTIL, end) - integral(UTIL, end - window)) / 100.0
        self.assertAlmostEqual(busy, expect, delta=expect * 0.01)
        # and the windows tile the time between the ticks
        span = (rows[-1][0] - rows[0][0]) / 1000.0
        self.assertAlmostEqual(window, span, delta=2 * PERIOD_S)

    def test_energy_between_counter_reads_follows_power(self):
        # Between two counter reads energy is power integrated over the ticks:
        # within 1 % of the counter (the exact integral of the power pattern).
        first, last = self.rows[0], self.rows[-1]
        self.assertGreater((last[0] - first[0]) / 1000.0, 15)
        stored_j = (last[3] - first[3]) / 1000.0
        t0, t1 = first[0] / 1000.0 - EPOCH, last[0] / 1000.0 - EPOCH
        expect_j = integral(POWER, t1) - integral(POWER, t0)
        self.assertAlmostEqual(stored_j, expect_j, delta=expect_j * 0.01)
        energies = [r[3] for r in self.rows]
        self.assertEqual(energies, sorted(energies))  # a counter never goes back


if __name__ == "__main__":
    unittest.main(verbosity=2)
