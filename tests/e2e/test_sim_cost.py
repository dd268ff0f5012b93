"""The simulated NVML's cost profile: with it on, each call spends the CPU
time an H200's driver spends (sim/cost.def), in the calling thread; size
queries stay cheap; "none" (what the other tests run with) spends nothing.

Each case runs in a fresh process that loads the library with ctypes and
measures its own thread's CPU time. The profile spins on that same clock,
so lower bounds hold however loaded the machine is; upper bounds are loose
(a tenth of the profiled cost, or 100 times a cheap call's)."""

import json
import os
import subprocess
import sys
import unittest

from gpulse_e2e import SIM_LIB, write_scenario

PROBE = r'''
import ctypes, json, sys, time
lib = ctypes.CDLL(sys.argv[1])
lib.nvmlErrorString.restype = ctypes.c_char_p
out = {}
t0 = time.thread_time()
rc = lib.nvmlInit_v2()
out["init_us"] = (time.thread_time() - t0) * 1e6
out["init_rc"] = rc
if rc != 0:
    out["error"] = lib.nvmlErrorString(rc).decode()
    print(json.dumps(out)); sys.exit(0)
dev = ctypes.c_void_p()
assert lib.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(dev)) == 0

class Sample(ctypes.Structure):
    _fields_ = [("ts", ctypes.c_ulonglong), ("v", ctypes.c_ulonglong)]

def per_call_us(n, call):
    t0 = time.thread_time()
    for _ in range(n):
        call()
    return (time.thread_time() - t0) * 1e6 / n

vt = ctypes.c_int()
count = ctypes.c_uint()
buf = (Sample * 100)()
def samples():
    count.value = 100
    assert lib.nvmlDeviceGetSamples(dev, 1, ctypes.c_ulonglong(0), ctypes.byref(vt),
                                    ctypes.byref(count), buf) == 0
def size_query():
    assert lib.nvmlDeviceGetSamples(dev, 1, ctypes.c_ulonglong(0), ctypes.byref(vt),
                                    ctypes.byref(count), None) == 0
def putil_size():
    assert lib.nvmlDeviceGetProcessUtilization(dev, None, ctypes.byref(count),
                                               ctypes.c_ulonglong(0)) == 7
mw = ctypes.c_uint()
def power():
    assert lib.nvmlDeviceGetPowerUsage(dev, ctypes.byref(mw)) == 0
out["samples_us"] = per_call_us(20, samples)
out["size_query_us"] = per_call_us(200, size_query)
out["putil_size_us"] = per_call_us(200, putil_size)
out["power_us"] = per_call_us(200, power)
print(json.dumps(out))
'''

SCENARIO = {"gpus": [{"metrics": {"utilization_gpu": 50},
                      "processes": [{"pid": 4194301, "sm_pct": 30}]}]}


def probe(scenario, cost_env):
    path = write_scenario(scenario)
    try:
        env = dict(os.environ, GPULSE_SIM_SCENARIO=path, GPULSE_SIM_TIME="100")
        env.pop("GPULSE_SIM_CALL_COST", None)
        if cost_env is not None:
            env["GPULSE_SIM_CALL_COST"] = cost_env
        p = subprocess.run([sys.executable, "-c", PROBE, SIM_LIB], env=env, capture_output=True,
                           text=True, timeout=60)
        if p.returncode != 0:
            raise AssertionError("probe failed: %s" % p.stderr)
        return json.loads(p.stdout)
    finally:
        os.unlink(path)


class CallCost(unittest.TestCase):
    def test_h200_profile_is_spent_by_default(self):
        r = probe(SCENARIO, None)
        self.assertEqual(r["init_rc"], 0)
        self.assertGreaterEqual(r["init_us"], 14000)
        self.assertGreaterEqual(r["samples_us"], 1980)
        # the size query is cheap on the real driver too (3 us)
        self.assertLess(r["size_query_us"], 300)
        self.assertLess(r["putil_size_us"], 300)
        self.assertLess(r["power_us"], 300)

    def test_environment_turns_it_off_and_on(self):
        off = probe(SCENARIO, "none")
        self.assertLess(off["init_us"], 1400)
        self.assertLess(off["samples_us"], 198)
        on = probe(dict(SCENARIO, call_cost="none"), "h200")  # the variable wins
        self.assertGreaterEqual(on["samples_us"], 1980)

    def test_scenario_sets_its_own_costs(self):
        off = probe(dict(SCENARIO, call_cost="none"), None)
        self.assertLess(off["samples_us"], 198)
        custom = probe(dict(SCENARIO, call_cost={"nvmlDeviceGetSamples": 5000,
                                                 "nvmlInit_v2": 0,
                                                 "nvmlDeviceGetPowerUsage": 400}), None)
        self.assertLess(custom["init_us"], 1400)
        self.assertGreaterEqual(custom["samples_us"], 5000)
        self.assertGreaterEqual(custom["power_us"], 400)
        self.assertLess(custom["size_query_us"], 300)  # its own row, untouched

    def test_bad_values_say_what_is_wrong(self):
        r = probe(dict(SCENARIO, call_cost={"nvmlDeviceGetSampels": 5}), "none")
        self.assertEqual(r["init_rc"], 999)
        self.assertIn("call_cost.nvmlDeviceGetSampels: unknown NVML function", r["error"])
        r = probe(dict(SCENARIO, call_cost="fast"), None)
        self.assertIn("call_cost: 'fast' is not \"h200\", \"none\"", r["error"])
        r = probe(SCENARIO, "slow")
        self.assertIn("GPULSE_SIM_CALL_COST='slow'", r["error"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
