"""The simulated NVML's own cost over scenario time: one read of every GPU's
sample buffers and per-process utilization of sim/scenarios/demo.json, with
the call-cost profile off, at t = 60 s and t = 20 000 s (frozen clock, a
fresh process each). Random walks used to replay from t = 0 on each such
read (0.54 ms at 60 s, 11.8 ms at 20 000 s). Prints medians and the ratio;
with GPULSE_SIM_BASELINE naming another build of the library (an older
commit's), the same for it, in the same run.
  python3 bench/sim_flat.py [READS]"""

import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
LIB = os.environ.get("GPULSE_NVML_LIB", os.path.join(ROOT, "build-bench", "sim",
                                                     "libnvidia-ml.so.1"))
READS = int(sys.argv[1]) if len(sys.argv) > 1 else 200

PROBE = r'''
import ctypes, json, sys, time
lib = ctypes.CDLL(sys.argv[1])
assert lib.nvmlInit_v2() == 0
n = ctypes.c_uint()
lib.nvmlDeviceGetCount_v2(ctypes.byref(n))
devs = []
for i in range(n.value):
    d = ctypes.c_void_p(); lib.nvmlDeviceGetHandleByIndex_v2(i, ctypes.byref(d)); devs.append(d)
buf = (ctypes.c_ulonglong * 2 * 128)()
pbuf = (ctypes.c_ulonglong * 4 * 128)()
vt, cnt = ctypes.c_int(), ctypes.c_uint()
times = []
for _ in range(int(sys.argv[2])):
    t0 = time.thread_time()
    for d in devs:
        for kind in (1, 2):
            cnt.value = 128
            lib.nvmlDeviceGetSamples(d, kind, ctypes.c_ulonglong(0), ctypes.byref(vt),
                                     ctypes.byref(cnt), buf)
        cnt.value = 128
        lib.nvmlDeviceGetProcessUtilization(d, pbuf, ctypes.byref(cnt), ctypes.c_ulonglong(0))
    times.append((time.thread_time() - t0) * 1e6)
print(json.dumps(times))
'''


def median_us(lib, t):
    env = dict(os.environ, GPULSE_SIM_SCENARIO=os.path.join(ROOT, "sim", "scenarios", "demo.json"),
               GPULSE_SIM_TIME=str(t), GPULSE_SIM_CALL_COST="none")
    out = subprocess.run([sys.executable, "-c", PROBE, lib, str(READS)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return statistics.median(json.loads(out))


print("simulated NVML, demo.json (4 GPUs), one read of the sample buffers and per-process "
      "utilization, cost profile off, CPU per read, median of %d:" % READS)
libs = [("this build", LIB)]
if os.environ.get("GPULSE_SIM_BASELINE"):
    libs.append(("baseline", os.environ["GPULSE_SIM_BASELINE"]))
for name, lib in libs:
    early, late = median_us(lib, 60), median_us(lib, 20000)
    print("  %-10s t = 60 s: %7.1f us   t = 20 000 s: %7.1f us   ratio %.2f"
          % (name, early, late, late / early))
