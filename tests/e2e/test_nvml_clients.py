"""Other NVML clients can load the simulated library: it exports what nvtop
refuses to start without and what pynvml-based tools commonly call, with
values from the scenario; per-process utilization behaves as an H200's
driver does (one latest sample per process, each on its own clock). When
nvtop is installed (or GPULSE_NVTOP names it), it is run against the
library and must list the scenario's GPUs."""

import ctypes
import json
import os
import shutil
import subprocess
import unittest

from gpulse_e2e import SIM_LIB, write_scenario

# nvml-abi.md section 5: nvtop's mandatory symbols (with their fallbacks
# resolved to the names the full library has).
NVTOP_REQUIRED = [
    "nvmlInit_v2", "nvmlShutdown", "nvmlDeviceGetCount_v2", "nvmlDeviceGetHandleByIndex_v2",
    "nvmlErrorString", "nvmlDeviceGetName", "nvmlDeviceGetPciInfo_v3",
    "nvmlDeviceGetMaxPcieLinkGeneration", "nvmlDeviceGetMaxPcieLinkWidth",
    "nvmlDeviceGetTemperatureThreshold", "nvmlDeviceGetClockInfo", "nvmlDeviceGetMaxClockInfo",
    "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetCurrPcieLinkGeneration",
    "nvmlDeviceGetCurrPcieLinkWidth", "nvmlDeviceGetPcieThroughput", "nvmlDeviceGetFanSpeed",
    "nvmlDeviceGetTemperature", "nvmlDeviceGetPowerUsage", "nvmlDeviceGetEnforcedPowerLimit",
    "nvmlDeviceGetEncoderUtilization", "nvmlDeviceGetDecoderUtilization",
    "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetGraphicsRunningProcesses_v3",
    "nvmlDeviceGetComputeRunningProcesses_v3",
]
# What pynvml (nvidia-ml-py) resolves for the calls monitoring scripts make.
PYNVML_COMMON = [
    "nvmlInitWithFlags", "nvmlSystemGetDriverVersion", "nvmlSystemGetCudaDriverVersion_v2",
    "nvmlDeviceGetUUID", "nvmlDeviceGetSerial", "nvmlDeviceGetIndex",
    "nvmlDeviceGetHandleByUUID", "nvmlDeviceGetHandleByPciBusId_v2",
    "nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetPerformanceState", "nvmlDeviceGetPowerState",
    "nvmlDeviceGetPowerManagementLimit", "nvmlDeviceGetPowerManagementDefaultLimit",
    "nvmlDeviceGetPowerManagementLimitConstraints", "nvmlDeviceGetTotalEnergyConsumption",
    "nvmlDeviceGetPersistenceMode", "nvmlDeviceGetComputeMode",
    "nvmlDeviceGetCudaComputeCapability", "nvmlDeviceGetNumFans", "nvmlDeviceGetFanSpeed_v2",
    "nvmlDeviceGetEccMode", "nvmlDeviceGetTotalEccErrors", "nvmlDeviceGetMigMode",
    "nvmlDeviceGetProcessUtilization", "nvmlDeviceGetProcessesUtilizationInfo",
    "nvmlDeviceGetSamples", "nvmlDeviceGetCurrentClocksEventReasons",
]

SCENARIO = {"gpus": [
    {"name": "NVIDIA H200", "uuid": "GPU-aaaaaaaa-0000-4000-8000-000000000001",
     "pci_bus_id": "00000000:19:00.0", "unsupported": ["fan"],
     "processes": [{"pid": 4194301, "sm_pct": 30, "memory_pct": 5},
                   {"pid": 4194302, "sm_pct": 12},
                   {"pid": 4194303, "sm_pct": 0}]},  # idle: no sample
    {"name": "NVIDIA RTX A6000", "uuid": "GPU-aaaaaaaa-0000-4000-8000-000000000002",
     "pcie_link": {"gen": 1, "max_gen": 4, "width": 8, "max_width": 16},
     "temperature_thresholds_c": {"shutdown": 98, "slowdown": 95, "memory_max": 0,
                                  "gpu_max": 93},
     "cuda_capability": 8.6},
    {"unsupported": ["pcie_link", "temperature_thresholds"]},
]}

# GPULSE_SIM_TIME is scenario seconds; the library's timestamps are Unix us.
T = 100.0


class Sample(ctypes.Structure):
    _fields_ = [("pid", ctypes.c_uint), ("ts", ctypes.c_ulonglong), ("sm", ctypes.c_uint),
                ("mem", ctypes.c_uint), ("enc", ctypes.c_uint), ("dec", ctypes.c_uint)]


class InfoSample(ctypes.Structure):
    _fields_ = [("ts", ctypes.c_ulonglong), ("pid", ctypes.c_uint), ("sm", ctypes.c_uint),
                ("mem", ctypes.c_uint), ("enc", ctypes.c_uint), ("dec", ctypes.c_uint),
                ("jpg", ctypes.c_uint), ("ofa", ctypes.c_uint)]


class Info(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint), ("count", ctypes.c_uint),
                ("last_seen", ctypes.c_ulonglong), ("samples", ctypes.POINTER(InfoSample))]


class Clients(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.path = write_scenario(SCENARIO)
        os.environ["GPULSE_SIM_SCENARIO"] = cls.path
        os.environ["GPULSE_SIM_TIME"] = str(T)
        os.environ["GPULSE_SIM_EPOCH"] = "1700000000"
        cls.lib = ctypes.CDLL(SIM_LIB)
        assert cls.lib.nvmlInit_v2() == 0
        cls.dev = []
        for i in range(3):
            d = ctypes.c_void_p()
            assert cls.lib.nvmlDeviceGetHandleByIndex_v2(i, ctypes.byref(d)) == 0
            cls.dev.append(d)

    @classmethod
    def tearDownClass(cls):
        cls.lib.nvmlShutdown()
        os.unlink(cls.path)

    def uint(self, fn, dev, *args):
        v = ctypes.c_uint()
        rc = getattr(self.lib, fn)(dev, *args, ctypes.byref(v))
        return rc, v.value

    def test_exports_what_nvtop_and_pynvml_resolve(self):
        missing = []
        for name in NVTOP_REQUIRED + PYNVML_COMMON:
            try:
                getattr(self.lib, name)
            except AttributeError:
                missing.append(name)
        self.assertEqual(missing, [])

    def test_pcie_link_and_thresholds_come_from_the_scenario(self):
        h200, a6000, bare = self.dev
        fns = ["nvmlDeviceGetCurrPcieLinkGeneration", "nvmlDeviceGetMaxPcieLinkGeneration",
               "nvmlDeviceGetCurrPcieLinkWidth", "nvmlDeviceGetMaxPcieLinkWidth"]
        self.assertEqual([self.uint(f, h200) for f in fns], [(0, 5), (0, 5), (0, 16), (0, 16)])
        self.assertEqual([self.uint(f, a6000) for f in fns], [(0, 1), (0, 4), (0, 8), (0, 16)])
        self.assertEqual([self.uint(f, bare)[0] for f in fns], [3, 3, 3, 3])
        thr = "nvmlDeviceGetTemperatureThreshold"
        self.assertEqual([self.uint(thr, h200, k) for k in range(4)],
                         [(0, 92), (0, 89), (0, 95), (0, 87)])
        self.assertEqual([self.uint(thr, a6000, k)[1] for k in range(4)], [98, 95, 0, 93])
        self.assertEqual(self.uint(thr, h200, 4)[0], 3)  # acoustic: NOT_SUPPORTED
        self.assertEqual(self.uint(thr, bare, 0)[0], 3)
        major, minor = ctypes.c_int(), ctypes.c_int()
        self.assertEqual(self.lib.nvmlDeviceGetCudaComputeCapability(
            a6000, ctypes.byref(major), ctypes.byref(minor)), 0)
        self.assertEqual((major.value, minor.value), (8, 6))
        self.assertEqual(self.uint("nvmlDeviceGetNumFans", h200), (0, 0))
        self.assertEqual(self.uint("nvmlDeviceGetNumFans", a6000), (0, 1))

    def test_handles_by_uuid_and_bus_id(self):
        d = ctypes.c_void_p()
        self.assertEqual(self.lib.nvmlDeviceGetHandleByUUID(
            b"GPU-aaaaaaaa-0000-4000-8000-000000000002", ctypes.byref(d)), 0)
        self.assertEqual(d.value, self.dev[1].value)
        self.assertEqual(self.lib.nvmlDeviceGetHandleByPciBusId_v2(b"00000000:19:00.0",
                                                                   ctypes.byref(d)), 0)
        self.assertEqual(d.value, self.dev[0].value)
        self.assertEqual(self.lib.nvmlDeviceGetHandleByUUID(b"GPU-nope", ctypes.byref(d)), 6)

    def read_putil(self, last_seen):
        count = ctypes.c_uint(0)
        rc = self.lib.nvmlDeviceGetProcessUtilization(self.dev[0], None, ctypes.byref(count),
                                                      ctypes.c_ulonglong(last_seen))
        self.assertEqual(rc, 7)  # INSUFFICIENT_SIZE, with the driver's capacity
        self.assertGreaterEqual(count.value, 2)
        buf = (Sample * count.value)()
        rc = self.lib.nvmlDeviceGetProcessUtilization(self.dev[0], buf, ctypes.byref(count),
                                                      ctypes.c_ulonglong(last_seen))
        return rc, {s.pid: s for s in buf[:count.value]} if rc == 0 else {}

    def test_one_latest_sample_per_process_on_its_own_clock(self):
        rc, got = self.read_putil(0)
        self.assertEqual(rc, 0)
        self.assertEqual(sorted(got), [4194301, 4194302])  # the idle one has none
        a, b = got[4194301], got[4194302]
        self.assertEqual((a.sm, a.mem, b.sm), (30, 5, 12))
        now_us = (1700000000 + T) * 1e6
        for s in (a, b):  # the latest: within the last second
            self.assertLessEqual(s.ts, now_us)
            self.assertGreater(s.ts, now_us - 1e6)
        self.assertNotEqual(a.ts, b.ts)
        # newer than the older one's timestamp: only the other process
        older, newer = sorted((a, b), key=lambda s: s.ts)
        rc, got = self.read_putil(older.ts)
        self.assertEqual((rc, sorted(got)), (0, [newer.pid]))
        rc, got = self.read_putil(newer.ts)
        self.assertEqual(rc, 6)  # NOT_FOUND: nothing newer
        # the versioned call agrees
        arr = (InfoSample * 8)()
        info = Info(version=0x01000018, count=8, last_seen=0, samples=arr)
        self.assertEqual(self.lib.nvmlDeviceGetProcessesUtilizationInfo(self.dev[0],
                                                                        ctypes.byref(info)), 0)
        self.assertEqual(sorted((s.pid, s.ts, s.sm) for s in arr[:info.count]),
                         sorted((s.pid, s.ts, s.sm) for s in (a, b)))
        info.version = 0x01000020
        self.assertEqual(self.lib.nvmlDeviceGetProcessesUtilizationInfo(self.dev[0],
                                                                        ctypes.byref(info)), 25)

    def test_error_strings_are_r580s(self):
        self.lib.nvmlErrorString.restype = ctypes.c_char_p
        self.assertEqual(self.lib.nvmlErrorString(26),
                         b"Requested functionality has been deprecated")
        self.assertEqual(self.lib.nvmlErrorString(29),
                         b"Resource not in correct state to perform requested operation")

    def test_nvtop_lists_the_gpus(self):
        nvtop = os.environ.get("GPULSE_NVTOP") or shutil.which("nvtop")
        if not nvtop:
            self.skipTest("nvtop is not installed (GPULSE_NVTOP can name one)")
        env = dict(os.environ, LD_LIBRARY_PATH=os.path.dirname(SIM_LIB))
        p = subprocess.run([nvtop, "-s"], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        names = [g["device_name"] for g in json.loads(p.stdout)]
        self.assertEqual(names, ["NVIDIA H200", "NVIDIA RTX A6000", "Simulated GPU 2"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
