"""Busy time from the driver's sample buffer: work shorter than the read
interval, between two reads, is counted; the polled value misses it."""

import json
import signal
import subprocess
import time
import unittest

from gpulse_e2e import GPULSE, SIM_LIB, write_scenario
import os

BURST = {"pattern": "bursts", "low": 0, "high": 100, "every_s": 2, "length_s": 0.3,
         "offset_s": 0.9}
SQUARE = {"pattern": "square", "low": 0, "high": 100, "period_s": 2, "duty": 0.3}


class BusyTime(unittest.TestCase):
    def watch(self, seconds, interval="1"):
        path = write_scenario({"gpus": [{"metrics": {"utilization_gpu": BURST}},
                                        {"metrics": {"utilization_gpu": SQUARE}}]})
        self.addCleanup(os.unlink, path)
        env = dict(os.environ, GPULSE_NVML_LIB=SIM_LIB, GPULSE_SIM_SCENARIO=path,
                   GPULSE_SIM_EPOCH=str(time.time() - 20.5))
        env.pop("GPULSE_SIM_TIME", None)
        p = subprocess.Popen([GPULSE, "now", "--format", "json", "--watch", interval],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(seconds)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 0, err)
        return [json.loads(line) for line in out.splitlines()]

    def test_bursts_between_reads_are_counted(self):
        docs = self.watch(8.6)
        self.assertGreaterEqual(len(docs), 8)
        # After the first read each window starts where the previous one ended.
        later = docs[1:]
        for i in (0, 1):
            busy = sum(d["gpus"][i]["busy_us"] for d in later)
            window = sum(d["gpus"][i]["busy_window_us"] for d in later)
            self.assertTrue(all(d["gpus"][i]["busy_source"] == "samples" for d in later))
            # windows tile the elapsed time: one read interval each
            self.assertAlmostEqual(window / len(later), 1e6, delta=0.05e6)
            expected = 15.0 if i == 0 else 30.0
            self.assertAlmostEqual(100.0 * busy / window, expected, delta=2.5,
                                   msg="GPU %d busy %% over %d reads" % (i, len(later)))
        # The polled value (the last 200 ms period before each read) sees almost none of
        # the 0.3 s bursts; the sample buffer sees them all.
        polled = sum(d["gpus"][0]["utilization_gpu_pct"] for d in later) / len(later)
        self.assertLess(polled, 5.0)

    def test_watch_refreshes_on_schedule(self):
        docs = self.watch(2.8, interval="500ms")
        self.assertGreaterEqual(len(docs), 5)
        times = [d["time_ms"] for d in docs]
        gaps = [b - a for a, b in zip(times, times[1:])]
        for g in gaps:
            self.assertAlmostEqual(g, 500, delta=120)


if __name__ == "__main__":
    unittest.main(verbosity=2)
