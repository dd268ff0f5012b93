"""What a user sees when something is wrong: no driver, a driver that will
not initialise, no GPU, a broken scenario, bad arguments. Each gets a clear
message and the documented exit code, never a crash."""

import ctypes
import json
import os
import subprocess
import unittest

from gpulse_e2e import GPULSE, SIM_LIB, run, write_scenario

OK = {"gpus": [{}]}


class Environment(unittest.TestCase):
    def test_no_nvml_library(self):
        p = run(["now"], OK, lib="/nonexistent/libnvidia-ml.so.1")
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot load NVML library '/nonexistent/libnvidia-ml.so.1'", p.stderr)
        self.assertIn("NVIDIA driver is not installed or not visible", p.stderr)
        self.assertIn("GPULSE_NVML_LIB=", p.stderr)  # how to use the simulated GPU
        self.assertIn("GPULSE_SIM_SCENARIO=", p.stderr)
        self.assertEqual(p.stdout, "")

    def test_default_library_name_is_the_soname(self):
        env = dict(os.environ)
        env.pop("GPULSE_NVML_LIB", None)
        p = subprocess.run([GPULSE, "now", "--format", "json"], env=env, capture_output=True,
                           text=True, timeout=30)
        if p.returncode == 0:
            # a machine with NVIDIA's driver: the default name found it
            self.assertGreater(len(json.loads(p.stdout)["gpus"]), 0)
            return
        self.assertEqual(p.returncode, 1)
        self.assertIn("'libnvidia-ml.so.1'", p.stderr)

    def test_flag_overrides_environment(self):
        # GPULSE_NVML_LIB names the working simulated library; the flag wins.
        p = run(["now", "--nvml-lib", "/nonexistent/flag/libnvidia-ml.so.1"], OK)
        self.assertEqual(p.returncode, 1)
        self.assertIn("'/nonexistent/flag/libnvidia-ml.so.1'", p.stderr)
        p = run(["now", "--nvml-lib", SIM_LIB, "--format", "json"], OK,
                lib="/nonexistent/env/libnvidia-ml.so.1")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(json.loads(p.stdout)["gpus"]), 1)

    def test_not_an_nvml_library(self):
        p = run(["now"], OK, lib="libm.so.6")
        self.assertEqual(p.returncode, 1)
        self.assertIn("lacks the required function nvmlInit_v2", p.stderr)

    def test_init_fails(self):
        p = run(["now"], {"init": {"error": "DRIVER_NOT_LOADED"}, "gpus": [{}]})
        self.assertEqual(p.returncode, 1)
        self.assertIn("NVML initialisation failed: Driver Not Loaded (NVML error 9)", p.stderr)
        self.assertIn("kernel driver is not loaded", p.stderr)
        p = run(["now"], {"init": {"error": "LIB_RM_VERSION_MISMATCH"}, "gpus": [{}]})
        self.assertIn("Driver/library version mismatch", p.stderr)
        self.assertIn("reboot", p.stderr)

    def test_no_gpu(self):
        p = run(["now"], {"gpus": []})
        self.assertEqual(p.returncode, 1)
        self.assertIn("NVML found no GPU", p.stderr)

    def test_bad_scenario_names_the_key(self):
        bad = {"gpus": [{}, {"metrics": {"power_w": {"pattern": "sqare", "high": 3}}}]}
        p = run(["now"], bad)
        self.assertEqual(p.returncode, 1)
        self.assertIn("gpus[1].metrics.power_w.pattern: unknown pattern 'sqare'", p.stderr)
        path = write_scenario(OK)
        with open(path, "w") as f:
            f.write('{"gpus": [ {"name": "x",} ]}')
        p = run(["now"], path)
        os.unlink(path)
        self.assertEqual(p.returncode, 1)
        self.assertIn("line 1", p.stderr)
        p = run(["now"], "/nonexistent/scenario.json")
        self.assertIn("/nonexistent/scenario.json", p.stderr)

    def test_scenario_not_named(self):
        env = {"GPULSE_SIM_SCENARIO": ""}
        p = run(["now"], None, env)
        self.assertEqual(p.returncode, 1)
        self.assertIn("GPULSE_SIM_SCENARIO is not set", p.stderr)

    def test_bad_proc_root(self):
        p = run(["now", "--proc-root", "/nonexistent"], OK)
        self.assertEqual(p.returncode, 1)
        self.assertIn("'/nonexistent'", p.stderr)

    def test_slow_gpu_is_still_read(self):
        p = run(["now", "--format", "json"], {"gpus": [{"slow_ms": 20}, {}]})
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = json.loads(p.stdout)
        self.assertGreater(doc["read_duration_us"], 20 * 20 * 1000)
        self.assertEqual(doc["gpus"][0]["state"], "ok")


class Arguments(unittest.TestCase):
    def check_usage(self, args, message):
        p = run(args, OK)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(message, p.stderr)
        self.assertEqual(p.stdout, "")

    def test_bad_arguments_exit_2(self):
        self.check_usage(["now", "--format", "xml"], "--format: 'xml' is not one of")
        self.check_usage(["now", "--watch", "abc"], "--watch: 'abc' is not a duration")
        self.check_usage(["now", "--watch", "10ms"], "--watch: '10ms' is not a duration")
        self.check_usage(["now", "--log-level", "loud"],
                         "--log-level 'loud': key 'log.level': must be one of debug")
        # the flags that stand for configuration keys name the flag, the value and the key
        self.check_usage(["agent", "--interval", "5x"], "--interval '5x': key 'interval'")
        self.check_usage(["agent", "--log-level", "loud"], "--log-level 'loud'")
        self.check_usage(["agent", "--listen"], "option '--listen' needs a value")
        self.check_usage(["agent", "extra"], "unexpected argument 'extra'")
        # an empty database path would store into a temporary file that vanishes
        self.check_usage(["agent", "--once", "--database", ""], "key 'database': must name a file")
        self.check_usage(["now", "--watch", "0"], "--watch: '0'")
        self.check_usage(["now", "--watch"], "option '--watch' needs a value")
        self.check_usage(["now", "--bogus"], "unknown option '--bogus'")
        self.check_usage(["now", "extra"], "unexpected argument 'extra'")
        self.check_usage(["now", "--processes"], "--processes applies to --format csv")
        self.check_usage(["now", "--color", "pink"], "--color: 'pink'")
        self.check_usage(["frobnicate"], "'frobnicate' is not a command")
        self.check_usage([], "Usage: gpulse")

    def test_help_and_version(self):
        for args in (["--help"], ["now", "--help"], ["help"]):
            p = run(args, OK)
            self.assertEqual(p.returncode, 0)
            self.assertIn("Usage: gpulse", p.stdout)
        p = run(["--version"], OK)
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^gpulse \d+\.\d+\.\d+\n$")


class OtherNvmlClients(unittest.TestCase):
    """The simulated library is a libnvidia-ml.so.1 any NVML client can load."""

    def test_ctypes_client_and_init_retries(self):
        path = write_scenario({"init": {"error": "DRIVER_NOT_LOADED", "fail_count": 2},
                               "gpus": [{"name": "Sim A"}, {"name": "Sim B"}]})
        self.addCleanup(os.unlink, path)
        os.environ["GPULSE_SIM_SCENARIO"] = path
        lib = ctypes.CDLL(SIM_LIB)
        lib.nvmlErrorString.restype = ctypes.c_char_p
        # fails twice, then succeeds: what an agent's retry loop meets
        self.assertEqual(lib.nvmlInit_v2(), 9)
        self.assertEqual(lib.nvmlErrorString(9), b"Driver Not Loaded")
        self.assertEqual(lib.nvmlInit_v2(), 9)
        self.assertEqual(lib.nvmlInit_v2(), 0)
        count = ctypes.c_uint(0)
        self.assertEqual(lib.nvmlDeviceGetCount_v2(ctypes.byref(count)), 0)
        self.assertEqual(count.value, 2)
        handle = ctypes.c_void_p()
        self.assertEqual(lib.nvmlDeviceGetHandleByIndex_v2(1, ctypes.byref(handle)), 0)
        name = ctypes.create_string_buffer(96)
        self.assertEqual(lib.nvmlDeviceGetName(handle, name, 96), 0)
        self.assertEqual(name.value, b"Sim B")
        # too small a buffer, as the real library answers
        self.assertEqual(lib.nvmlDeviceGetName(handle, name, 3), 7)
        # the v2 memory struct needs the real version value, not a bare 2
        mem = (ctypes.c_uint64 * 5)()
        mem[0] = 2
        self.assertEqual(lib.nvmlDeviceGetMemoryInfo_v2(handle, mem), 13)
        mem[0] = 0x02000028
        self.assertEqual(lib.nvmlDeviceGetMemoryInfo_v2(handle, mem), 0)
        self.assertEqual(lib.nvmlDeviceGetHandleByIndex_v2(2, ctypes.byref(handle)), 2)
        self.assertEqual(lib.nvmlShutdown(), 0)
        self.assertEqual(lib.nvmlShutdown(), 1)  # more shutdowns than inits
        self.assertEqual(lib.nvmlDeviceGetCount_v2(ctypes.byref(count)), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
