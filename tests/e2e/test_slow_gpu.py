"""One slow or hung GPU must not stop the others, nor the agent: each GPU is
read by a thread of its own under a deadline, a GPU that misses it is "not
responding", the healthy ones keep their schedule, the agent serves HTTP
and stops promptly; a lost GPU that comes back (after a reset) is read
again. The simulator's call_delay_s and lost_until_s stand for the driver."""

import json
import time
import unittest

from gpulse_e2e import Agent, query_db, run

# Every call on GPU 0 sleeps 1-5 s in the driver; GPU 1 is healthy and busy.
SLOW = {"gpus": [{"call_delay_s": [1, 5]}, {"metrics": {"utilization_gpu": 100}}]}

# docs/agent.md: the agent stops within 2 s of SIGTERM whatever the driver
# does; the margin is for a loaded test machine.
STOP_LIMIT_S = 2.5


def gpu_rows(database):
    """(idx, t, lost, busy_us, window_us, temperature_c) of every stored sample."""
    return query_db(database,
                    "SELECT g.idx, s.t, s.lost, s.busy_us, s.window_us, s.temperature_c"
                    " FROM samples s JOIN gpus g ON g.id = s.gpu ORDER BY s.t")


class SlowGpu(unittest.TestCase):
    def test_healthy_gpu_keeps_its_schedule_and_the_agent_stops(self):
        started = time.time()
        with Agent(SLOW, interval="1s") as a:
            serving_s = time.time() - started
            # The HTTP port answers within seconds, not after the slow GPU's
            # first read (minutes of 1-5 s calls).
            self.assertLess(serving_s, 8.0)
            time.sleep(8)
            now = a.json("/api/v1/now")
            slow, healthy = now["gpus"][0], now["gpus"][1]
            self.assertEqual(slow["state"], "not_responding")
            self.assertIn("has not answered", slow["error"])
            self.assertIsNone(slow["utilization_gpu_pct"])
            self.assertIsNone(slow["temperature_c"])
            self.assertEqual(healthy["state"], "ok")
            self.assertEqual(healthy["utilization_gpu_pct"], 100)
            health = a.json("/health")
            self.assertEqual(health["gpus"]["not_responding"], 1)
            self.assertEqual(health["gpus"]["lost"], 0)
            metrics = a.get("/metrics")[2].decode()
            self.assertIn('gpulse_gpu_not_responding{gpu="0"', metrics)
            self.assertRegex(metrics, r'gpulse_gpu_not_responding\{gpu="0"[^}]*\} 1')
            self.assertRegex(metrics, r'gpulse_gpu_not_responding\{gpu="1"[^}]*\} 0')
            ran_s = time.time() - started

            t0 = time.time()
            a.proc.terminate()
            a.proc.wait(timeout=20)
            stop_s = time.time() - t0
            self.assertEqual(a.proc.returncode, 0)
            self.assertLess(stop_s, STOP_LIMIT_S, "SIGTERM took %.2f s" % stop_s)
            rows = gpu_rows(a.database)

        healthy_rows = [r for r in rows if r[0] == 1]
        # A sample a second from the first tick to the stop, none skipped.
        times = [r[1] for r in healthy_rows]
        self.assertGreaterEqual(len(times), int(ran_s - serving_s))
        gaps = [b - a for a, b in zip(times, times[1:])]
        self.assertLessEqual(max(gaps), 1600, "a tick of the healthy GPU was late: %s" % gaps)
        busy = sum(r[3] or 0 for r in healthy_rows[1:])
        window = sum(r[4] or 0 for r in healthy_rows[1:])
        self.assertAlmostEqual(100.0 * busy / window, 100.0, delta=2.0)
        # The slow GPU never finished its first read: it was never identified,
        # so nothing is stored under a made-up identity.
        self.assertFalse([r for r in rows if r[0] == 0])

    def test_now_reports_the_slow_gpu_and_returns(self):
        t0 = time.time()
        p = run(["now", "--format", "json"], SLOW, timeout=20)
        took = time.time() - t0
        self.assertEqual(p.returncode, 0, p.stderr)
        gpus = json.loads(p.stdout)["gpus"]
        self.assertEqual([g["state"] for g in gpus], ["not_responding", "ok"])
        self.assertEqual(gpus[1]["utilization_gpu_pct"], 100)
        self.assertLess(took, 8.0)  # a one-shot read waits 3 s for a GPU
        p = run(["now"], SLOW, timeout=20)
        self.assertIn("NOT RESPONDING", p.stdout)

    def test_gpu_that_comes_back_is_read_again(self):
        epoch = time.time()
        scenario = {"gpus": [{"lost_at_s": 5, "lost_until_s": 15, "metrics": {"temperature_c": 41}},
                             {}]}
        with Agent(scenario, env={"GPULSE_SIM_EPOCH": repr(epoch)}, interval="1s") as a:
            state = lambda: a.json("/api/v1/now")["gpus"][0]["state"]
            a.wait_for(lambda: state() == "lost", timeout=15, what="GPU 0 lost")
            lost_doc = a.json("/api/v1/now")["gpus"][0]
            self.assertIsNone(lost_doc["temperature_c"])
            self.assertEqual(lost_doc["uuid"], "GPU-5a1d0000-0000-4000-8000-000000000000")
            # Looked up again every 10 s: back by 10 s after the loss ends.
            a.wait_for(lambda: state() == "ok", timeout=epoch + 28 - time.time(),
                       what="GPU 0 read again")
            self.assertGreaterEqual(time.time() - epoch, 15)
            time.sleep(2.5)
            self.assertEqual(a.json("/api/v1/now")["gpus"][0]["temperature_c"], 41)
            a.proc.terminate()
            a.proc.wait(timeout=20)
            rows = [r for r in gpu_rows(a.database) if r[0] == 0]
        log = a.stderr
        self.assertEqual(log.count("GPU 0 (GPU-5a1d0000-0000-4000-8000-000000000000) is lost"), 1,
                         log)
        self.assertEqual(log.count("answers again"), 1, log)
        lost = [r for r in rows if r[2]]
        self.assertTrue(lost)
        after = [r for r in rows if r[1] > lost[-1][1]]
        self.assertGreaterEqual(len(after), 2)
        self.assertTrue(all(r[5] == 41 and not r[2] for r in after))


if __name__ == "__main__":
    unittest.main()
