"""`gpulse now` against the simulated NVML: every field equals the
scenario's value at that (frozen) time; absent fields are null; a lost GPU
does not hide the others; output formats agree."""

import csv
import io
import json
import os
import unittest

from gpulse_e2e import (FIXTURES, MIB, SIM_DIR, integral, last_period, mean, now_json, run,
                        value_at)

T = 123.4  # frozen scenario time, seconds

POWER = {"pattern": "square", "low": 90, "high": 310, "period_s": 7, "duty": 0.4, "phase_s": 1}
UTIL = {"pattern": "ramp", "from": 10, "to": 90, "duration_s": 200}
TEMP = {"pattern": "random_walk", "seed": 99, "start": 60, "step": 3, "min": 40, "max": 85,
        "interval_s": 5}
BUSY = {"pattern": "square", "low": 0, "high": 100, "period_s": 1, "duty": 0.3}

SCENARIO = {
    "driver_version": "550.54.15",
    "nvml_version": "12.550.54.15",
    "cuda_version": 12040,
    "gpus": [
        {
            "name": "NVIDIA H100 80GB HBM3",
            "uuid": "GPU-67ad81fc-b9e4-fd02-6e39-ac30327586d3",
            "serial": "1654922012891",
            "pci_bus_id": "00000000:19:00.0",
            "pci_device_id": "0x233010DE",
            "minor_number": 3,
            "memory_total_mib": 81559,
            "memory_reserved_mib": 527,
            "power_limit_w": 700,
            "energy_start_mj": 5000000,
            "ecc": True,
            "mig_mode": False,
            "max_clocks_mhz": {"sm": 1980, "graphics": 1975, "memory": 2619},
            "unsupported": ["fan"],
            "metrics": {
                "utilization_gpu": UTIL,
                "utilization_memory": {"pattern": "constant", "value": 37},
                "utilization_encoder": 12,
                "utilization_decoder": 4,
                "temperature_c": TEMP,
                "power_w": POWER,
                "clock_sm_mhz": {"pattern": "bursts", "low": 1410, "high": 1980, "every_s": 10,
                                 "length_s": 2.5, "offset_s": 3},
                "clock_graphics_mhz": 1700,
                "clock_memory_mhz": 2619,
                "pstate": 2,
                "clock_event_reasons": 36,
                "pcie_tx_kbps": 123456,
                "pcie_rx_kbps": 654321,
                "ecc_corrected": 7,
                "ecc_uncorrected": 1,
                "remapped_rows_correctable": 2,
                "remapped_rows_uncorrectable": 0,
            },
            "processes": [
                {"pid": 4194301, "memory_mib": {"pattern": "ramp", "from": 1000, "to": 3000,
                                                "duration_s": 1000}, "sm_pct": 40},
                {"pid": 4194302, "type": "both", "memory_mib": 2048, "sm_pct": 15,
                 "encoder_pct": 9},
                {"pid": 4194303, "memory_mib": 512, "start_s": 200},
            ],
        },
        {
            "name": "NVIDIA GeForce RTX 4090",
            "uuid": "GPU-aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
            "pci_bus_id": "00000000:41:00.0",
            "memory_total_mib": 24564,
            "power_limit_w": 450,
            "unsupported": ["serial", "ecc", "remapped_rows", "energy", "process_utilization"],
            "metrics": {"utilization_gpu": BUSY, "fan_pct": 47, "memory_used_mib": 1234, "temperature_c": 66,
                        "power_w": 120},
            "processes": [{"pid": 4194304, "memory_mib": 100, "sm_pct": 50}],
        },
    ],
}

FROZEN = {"GPULSE_SIM_TIME": str(T), "GPULSE_SIM_EPOCH": "1795000000"}


def gpu(doc, i):
    return doc["gpus"][i]


class FieldsEqualTheScenario(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.doc = now_json(SCENARIO, FROZEN, ["--pcie"])
        # What the agent would store: the reads a one-shot `now` skips.
        p = run(["agent", "--dry-run", "--once", "--pcie"], SCENARIO, FROZEN)
        assert p.returncode == 0, p.stderr
        cls.agent_doc = json.loads(p.stdout)

    def test_system_versions(self):
        self.assertEqual(self.doc["driver_version"], "550.54.15")
        self.assertEqual(self.doc["nvml_version"], "12.550.54.15")
        self.assertEqual(self.doc["cuda_version"], "12.4")
        self.assertEqual(self.doc["schema"], "gpulse.now.v1")
        self.assertEqual(len(self.doc["gpus"]), 2)

    def test_identity(self):
        g = gpu(self.doc, 0)
        self.assertEqual(g["index"], 0)
        self.assertEqual(g["name"], "NVIDIA H100 80GB HBM3")
        self.assertEqual(g["uuid"], "GPU-67ad81fc-b9e4-fd02-6e39-ac30327586d3")
        self.assertEqual(g["serial"], "1654922012891")
        self.assertEqual(g["pci_bus_id"], "00000000:19:00.0")
        self.assertEqual(g["pci_device_id"], "0x233010DE")
        self.assertEqual(g["minor_number"], 3)
        self.assertIs(g["mig_enabled"], False)
        self.assertIsNone(gpu(self.doc, 1)["mig_enabled"])
        self.assertEqual(g["state"], "ok")
        self.assertIsNone(g["error"])

    def test_instant_metrics(self):
        g = gpu(self.doc, 0)
        self.assertEqual(g["temperature_c"], round(value_at(TEMP, T)))
        self.assertEqual(g["power_mw"], round(value_at(POWER, T) * 1000))
        self.assertEqual(g["power_limit_mw"], 700000)
        clk = SCENARIO["gpus"][0]["metrics"]["clock_sm_mhz"]
        self.assertEqual(g["clock_sm_mhz"], value_at(clk, T))
        self.assertEqual(g["clock_graphics_mhz"], 1700)
        self.assertEqual(g["clock_memory_mhz"], 2619)
        a = gpu(self.agent_doc, 0)
        self.assertEqual(a["clock_sm_max_mhz"], 1980)
        self.assertEqual(a["clock_graphics_max_mhz"], 1975)
        self.assertEqual(a["clock_memory_max_mhz"], 2619)
        self.assertEqual(g["pstate"], 2)
        self.assertEqual(g["clock_event_reasons"], 36)
        self.assertEqual(g["clock_event_reasons_active"], ["sw_power_cap", "sw_thermal_slowdown"])
        self.assertEqual(g["pcie_tx_kbps"], 123456)
        self.assertEqual(g["pcie_rx_kbps"], 654321)
        self.assertEqual(g["ecc_enabled"], 1)
        self.assertEqual(g["ecc_corrected_volatile"], 7)
        self.assertEqual(g["ecc_uncorrected_aggregate"], 1)
        self.assertEqual(g["remapped_rows_correctable"], 2)
        self.assertEqual(g["remapped_rows_uncorrectable"], 0)

    def test_polled_utilization_is_the_last_driver_period(self):
        g = gpu(self.doc, 0)
        a, b = last_period(T)
        self.assertEqual(g["utilization_gpu_pct"], round(mean(UTIL, a, b)))
        self.assertEqual(g["utilization_memory_pct"], 37)
        self.assertEqual(g["utilization_encoder_pct"], 12)
        self.assertEqual(g["utilization_decoder_pct"], 4)

    def test_memory(self):
        g = gpu(self.doc, 0)
        procs_mib = value_at(SCENARIO["gpus"][0]["processes"][0]["memory_mib"], T) + 2048
        self.assertEqual(g["memory_total_bytes"], 81559 * MIB)
        self.assertEqual(g["memory_reserved_bytes"], 527 * MIB)
        self.assertEqual(g["memory_used_bytes"], int(procs_mib * MIB))
        self.assertEqual(g["memory_free_bytes"],
                         81559 * MIB - 527 * MIB - int(procs_mib * MIB))
        self.assertEqual(gpu(self.doc, 1)["memory_used_bytes"], 1234 * MIB)

    def test_one_shot_reads_only_what_it_shows(self):
        # Maximum clocks (1 ms a call on an H200), the energy counter (3 ms)
        # and the sample buffer (2 ms) are not read for one look: absent, not 0.
        g = gpu(self.doc, 0)
        for key in ("clock_sm_max_mhz", "clock_graphics_max_mhz", "clock_memory_max_mhz",
                    "energy_mj"):
            self.assertIsNone(g[key], key)
        self.assertEqual(g["busy_source"], "polled")
        p = run(["now", "--format", "json", "--timings"], SCENARIO, FROZEN)
        self.assertEqual(p.returncode, 0, p.stderr)
        json.loads(p.stdout)  # the timings go to standard error
        calls = {}
        for line in p.stderr.splitlines()[1:]:
            f = line.split()
            calls[f[0]] = int(f[1])
        for fn in ("nvmlDeviceGetSamples", "nvmlDeviceGetTotalEnergyConsumption",
                   "nvmlDeviceGetMaxClockInfo"):
            self.assertNotIn(fn, calls)
        self.assertEqual(calls["nvmlInit_v2"], 1)
        self.assertEqual(calls["nvmlDeviceGetUtilizationRates"], 2)
        # GPU 0: two processes share a busy GPU; GPU 1's only process gets the GPU's share
        self.assertEqual(calls["nvmlDeviceGetProcessUtilization"], 2)
        self.assertEqual(calls["total"], sum(v for k, v in calls.items() if k != "total"))
        # One CSV row per GPU shows no process's utilization: not read.
        p = run(["now", "--format", "csv", "--timings"], SCENARIO, FROZEN)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("nvmlDeviceGetProcessUtilization", p.stderr)
        self.assertIn("nvmlDeviceGetUtilizationRates", p.stderr)

    def test_energy_integrates_power(self):
        g = gpu(self.agent_doc, 0)
        expect = 5000000 + integral(POWER, T) * 1000
        self.assertAlmostEqual(g["energy_mj"], expect, delta=expect * 1e-6)

    def test_busy_time_from_sample_buffer(self):
        # First read: the last second of driver samples of a 30 % square wave.
        g = gpu(self.agent_doc, 1)
        self.assertEqual(g["busy_source"], "samples")
        self.assertAlmostEqual(g["busy_window_us"], 1_000_000, delta=2)
        self.assertAlmostEqual(g["busy_pct"], 30.0, delta=0.5)
        g0 = gpu(self.agent_doc, 0)
        _, newest = last_period(T)
        self.assertAlmostEqual(g0["busy_pct"], mean(UTIL, newest - 1, newest), delta=0.2)

    def test_processes(self):
        procs = {p["pid"]: p for p in gpu(self.doc, 0)["processes"]}
        self.assertEqual(sorted(procs), [4194301, 4194302])  # 4194303 starts at 200 s
        p1 = procs[4194301]
        self.assertEqual(p1["type"], "C")
        mem = value_at(SCENARIO["gpus"][0]["processes"][0]["memory_mib"], T)
        self.assertEqual(p1["used_memory_bytes"], int(mem * MIB))
        self.assertEqual(p1["sm_pct"], 40)
        p2 = procs[4194302]
        self.assertEqual(p2["type"], "C+G")
        self.assertEqual(p2["used_memory_bytes"], 2048 * MIB)  # in two lists, counted once
        self.assertEqual(p2["sm_pct"], 15)
        self.assertEqual(p2["encoder_pct"], 9)
        # PIDs that /proc does not know are listed with what NVML knows
        for p in (p1, p2):
            self.assertIsNone(p["user"])
            self.assertIsNone(p["command"])
            self.assertIsNone(p["start_time"])

    def test_unsupported_is_null_never_zero(self):
        g0, g1 = gpu(self.doc, 0), gpu(self.doc, 1)
        self.assertIsNone(g0["fan_pct"])
        self.assertEqual(g1["fan_pct"], 47)
        self.assertIsNone(g1["serial"])
        self.assertIsNone(g1["energy_mj"])
        for key in ("ecc_enabled", "ecc_corrected_volatile", "remapped_rows_correctable"):
            self.assertIsNone(g1[key], key)
        p = g1["processes"][0]
        self.assertEqual(p["used_memory_bytes"], 100 * MIB)
        # no per-process samples, but a GPU's only process has all its busy time
        self.assertEqual(p["sm_pct"], g1["utilization_gpu_pct"])
        self.assertIsNone(gpu(self.agent_doc, 1)["energy_mj"])

    def test_mig_enabled_gpu(self):
        s = {"gpus": [{"mig_mode": True, "processes": [{"pid": 4194301, "sm_pct": 50}]}]}
        g = gpu(now_json(s, FROZEN), 0)
        self.assertIs(g["mig_enabled"], True)
        self.assertIsNone(g["processes"][0]["sm_pct"])  # not reported under MIG

    def test_pcie_is_read_only_when_asked(self):
        doc = now_json(SCENARIO, FROZEN)
        self.assertIsNone(gpu(doc, 0)["pcie_tx_kbps"])

    def test_pcie_from_the_configuration(self):
        doc = now_json(SCENARIO, FROZEN, ["--set", "pcie=true"])
        self.assertEqual(gpu(doc, 0)["pcie_tx_kbps"], 123456)
        doc = now_json(SCENARIO, FROZEN, ["--set", "pcie=false"])
        self.assertIsNone(gpu(doc, 0)["pcie_rx_kbps"])
        p = run(["now", "--set", "pcie=yes"], SCENARIO, FROZEN)
        self.assertEqual(p.returncode, 2)
        self.assertIn("key 'pcie': must be true or false", p.stderr)

    def test_agent_dry_run_reads_pcie_when_asked(self):
        for args, value in (([], None), (["--pcie"], 123456)):
            p = run(["agent", "--dry-run", "--once"] + args, SCENARIO, FROZEN)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(gpu(json.loads(p.stdout), 0)["pcie_tx_kbps"], value)


class OtherBuildsOfTheLibrary(unittest.TestCase):
    def test_legacy_driver_gives_the_same_readings(self):
        new = now_json(SCENARIO, FROZEN)
        p = run(["now", "--format", "json"], SCENARIO, FROZEN,
                lib=SIM_DIR + "/legacy/libnvidia-ml.so.1")
        self.assertEqual(p.returncode, 0, p.stderr)
        old = json.loads(p.stdout)
        for key in ("temperature_c", "power_mw", "energy_mj", "clock_sm_mhz", "uuid",
                    "memory_total_bytes", "clock_event_reasons", "busy_pct"):
            self.assertEqual(gpu(old, 0)[key], gpu(new, 0)[key], key)
        # the old memory call counts the driver's reservation as used
        self.assertEqual(gpu(old, 0)["memory_used_bytes"],
                         gpu(new, 0)["memory_used_bytes"] + 527 * MIB)
        self.assertIsNone(gpu(old, 0)["memory_reserved_bytes"])
        self.assertEqual([p["pid"] for p in gpu(old, 0)["processes"]], [4194301, 4194302])


class LostGpu(unittest.TestCase):
    def scenario(self, **faults):
        s = json.loads(json.dumps(SCENARIO))
        s["gpus"][0].update(faults)
        return s

    def test_lost_gpu_is_reported_and_others_read(self):
        doc = now_json(self.scenario(lost_at_s=100), FROZEN)
        g0, g1 = gpu(doc, 0), gpu(doc, 1)
        self.assertEqual(g0["state"], "lost")
        self.assertIn("GPU is lost", g0["error"])
        self.assertIsNone(g0["temperature_c"])
        # A GPU that does not answer has unknown processes, not none.
        self.assertIsNone(g0["processes"])
        self.assertEqual(g0["processes_error"], g0["error"])
        self.assertEqual(g1["state"], "ok")
        self.assertEqual(g1["processes_error"], None)
        self.assertEqual(g1["temperature_c"], 66)

    def test_gpu_lost_in_the_middle_of_a_read(self):
        # identity and a few metrics read, then the GPU falls off the bus
        doc = now_json(self.scenario(lost_after_calls=12), FROZEN)
        g0 = gpu(doc, 0)
        self.assertEqual(g0["state"], "lost")
        self.assertEqual(g0["uuid"], "GPU-67ad81fc-b9e4-fd02-6e39-ac30327586d3")
        self.assertIsNone(g0["power_mw"])
        self.assertEqual(gpu(doc, 1)["state"], "ok")

    def test_loss_is_logged_once_while_watching(self):
        import signal
        import subprocess
        import time
        from gpulse_e2e import GPULSE, SIM_LIB, write_scenario
        path = write_scenario({"gpus": [{"lost_at_s": 0.5}, {}]})
        self.addCleanup(os.unlink, path)
        env = dict(os.environ, GPULSE_NVML_LIB=SIM_LIB, GPULSE_SIM_SCENARIO=path)
        env.pop("GPULSE_SIM_TIME", None)
        env.pop("GPULSE_SIM_EPOCH", None)
        p = subprocess.Popen([GPULSE, "now", "--format", "json", "--watch", "200ms"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.6)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 0, err)
        states = [json.loads(line)["gpus"][0]["state"] for line in out.splitlines()]
        self.assertEqual(states[0], "ok")
        self.assertEqual(states[-1], "lost")
        self.assertEqual(len([l for l in err.splitlines() if ") is lost:" in l]), 1, err)

    def test_table_shows_lost(self):
        p = run(["now"], self.scenario(lost_at_s=0), FROZEN)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("LOST: GPU is lost", p.stdout)
        self.assertIn("NVIDIA GeForce RTX 4090", p.stdout)


class OutputFormats(unittest.TestCase):
    def test_csv_matches_json(self):
        doc = now_json(SCENARIO, FROZEN)
        p = run(["now", "--format", "csv"], SCENARIO, FROZEN)
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = list(csv.DictReader(io.StringIO(p.stdout)))
        self.assertEqual(len(rows), 2)
        for row, g in zip(rows, doc["gpus"]):
            self.assertEqual(row["uuid"], g["uuid"])
            for key in ("temperature_c", "power_mw", "memory_used_bytes", "fan_pct", "energy_mj"):
                self.assertEqual(row[key], "" if g[key] is None else str(g[key]), key)

    def test_csv_processes(self):
        p = run(["now", "--format", "csv", "--processes"], SCENARIO, FROZEN)
        rows = list(csv.DictReader(io.StringIO(p.stdout)))
        self.assertEqual([r["pid"] for r in rows], ["4194301", "4194302", "4194304"])
        self.assertEqual(rows[1]["type"], "C+G")
        self.assertEqual(rows[2]["sm_pct"], str(gpu(now_json(SCENARIO, FROZEN), 1)["utilization_gpu_pct"]))

    def test_output_format_alias(self):
        p = run(["now", "--output-format", "json"], SCENARIO, FROZEN)
        self.assertEqual(p.returncode, 0)
        self.assertEqual(json.loads(p.stdout)["schema"], "gpulse.now.v1")

    def test_table(self):
        p = run(["now", "--color", "never"], SCENARIO, FROZEN)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertIn("driver 550.54.15", lines[0])
        self.assertIn("CUDA 12.4", lines[0])
        self.assertTrue(lines[1].startswith("[0] NVIDIA H100 80GB HBM3"))
        self.assertIn("fan  N/A", lines[1])
        self.assertIn("/  700 W", lines[1])
        self.assertNotIn("\033[", p.stdout)
        p = run(["now", "--color", "always"], SCENARIO, FROZEN)
        self.assertIn("\033[", p.stdout)

    def test_container_and_job_from_proc(self):
        s = {"gpus": [{"processes": [{"pid": 4242, "memory_mib": 10},
                                     {"pid": 4343, "memory_mib": 20}]}]}
        doc = now_json(s, FROZEN, ["--proc-root", FIXTURES + "/proc"])
        procs = {p["pid"]: p for p in gpu(doc, 0)["processes"]}
        self.assertEqual(procs[4242]["container"]["runtime"], "docker")
        self.assertEqual(procs[4242]["container"]["label"], "docker:4f3c9b1e2d7a")
        self.assertEqual(procs[4242]["user"], "nobody")
        self.assertEqual(procs[4242]["cmdline"], "python3 train.py --epochs 90")
        self.assertEqual(procs[4343]["container"]["slurm_job"], "77231")
        self.assertEqual(procs[4343]["container"]["label"], "slurm:77231")

    def test_demo_scenario(self):
        doc = now_json(FIXTURES + "/../../sim/scenarios/demo.json", {"GPULSE_SIM_TIME": "90"})
        self.assertEqual(len(doc["gpus"]), 4)
        self.assertIsNone(gpu(doc, 0)["fan_pct"])
        self.assertIsNone(gpu(doc, 2)["serial"])
        self.assertIsNotNone(gpu(doc, 2)["fan_pct"])
        self.assertEqual(gpu(doc, 3)["processes"], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
