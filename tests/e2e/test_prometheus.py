"""/metrics as Prometheus sees it: promtool's checks, and a real Prometheus
server (Debian's package) scraping the agent and answering PromQL."""
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

from gpulse_e2e import Agent, query_db

HOSTILE = 'x"y\\z\n<b>'


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def parse(text):
    """{(name, labels-as-frozenset): value} and {name: type} from the text."""
    import re
    samples, types = {}, {}
    line_re = re.compile(r'^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})? (\S+)$')
    label_re = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = line_re.match(line)
        assert m, "not a sample line: %r" % line
        labels = frozenset(label_re.findall(m.group(3) or ""))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples, types


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="gpulse-prom-")
        # A process whose name carries a quote, a backslash, a newline and
        # markup: label values must escape all of them.
        cls.binary = os.path.join(cls.tmp, 'q"b\\x')
        shutil.copy("/bin/sleep", cls.binary)
        cls.proc = subprocess.Popen([cls.binary, "600"])
        cls.scenario = {
            "gpus": [
                {"name": "NVIDIA H100 80GB HBM3", "memory_total_mib": 81559,
                 "metrics": {"utilization_gpu": 63,
                                                              "temperature_c": 58,
                                                              "power_w": 412.5},
                 "processes": [{"pid": cls.proc.pid, "memory_mib": 1024, "sm_pct": 40}]},
                # 692 416 mW, as a real H200 read under load: 692.416 W
                # has no exact binary double, which %.17g shows as noise
                {"name": "NVIDIA A100 80GB PCIe", "unsupported": ["fan"],
                 "metrics": {"utilization_gpu": 7, "power_w": 692.416}},
            ]
        }

    @classmethod
    def tearDownClass(cls):
        cls.proc.kill()
        cls.proc.wait()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_exposition(self):
        with Agent(self.scenario) as agent:
            code, headers, body = agent.get("/metrics")
            self.assertEqual(code, 200)
            self.assertEqual(headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
            text = body.decode()
            samples, types = parse(text)

            # promtool: no parse error, and no lint finding except the two that
            # dcgm-exporter's own names and labels bring (its modelName label
            # is camelCase; its counters lack _total), on DCGM_* series only.
            p = subprocess.run(["promtool", "check", "metrics"], input=body,
                               capture_output=True)
            self.assertIn(p.returncode, (0, 3), p.stderr)
            for line in (p.stdout + p.stderr).decode().splitlines():
                if not line.strip():
                    continue
                name = line.split(" ", 1)[0]
                self.assertTrue(name.startswith("DCGM_FI_"), line)
                self.assertTrue("snake_case" in line or '"_total" suffix' in line, line)

            def value(name, **labels):
                for (n, ls), v in samples.items():
                    if n == name and set(labels.items()) <= ls:
                        return v
                return None

            self.assertEqual(value("DCGM_FI_DEV_GPU_UTIL", gpu="0"), 63)
            self.assertEqual(value("DCGM_FI_DEV_GPU_UTIL", gpu="1"), 7)
            self.assertEqual(value("DCGM_FI_DEV_GPU_TEMP", gpu="0"), 58)
            self.assertEqual(value("DCGM_FI_DEV_POWER_USAGE", gpu="0"), 412.5)
            self.assertEqual(value("DCGM_FI_DEV_POWER_USAGE", gpu="1"), 692.416)
            power1 = [l for l in text.splitlines()
                      if l.startswith("DCGM_FI_DEV_POWER_USAGE{") and 'gpu="1"' in l]
            self.assertEqual(len(power1), 1)
            self.assertTrue(power1[0].endswith("} 692.416"), power1[0])
            self.assertEqual(value("DCGM_FI_DEV_FB_TOTAL", gpu="0"), 81559)
            self.assertEqual(types["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"], "counter")
            # An unsupported field has no series for that GPU, never a 0.
            self.assertIsNotNone(value("DCGM_FI_DEV_FAN_SPEED", gpu="0"))
            self.assertIsNone(value("DCGM_FI_DEV_FAN_SPEED", gpu="1"))
            labels = dict(next(ls for (n, ls) in samples if n == "DCGM_FI_DEV_GPU_UTIL"))
            for key in ("gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname"):
                self.assertIn(key, labels)
            self.assertEqual(labels["Hostname"], socket.gethostname())
            # The process, its user, and the escaped name.
            mem = [(ls, v) for (n, ls), v in samples.items() if n == "gpulse_process_memory_bytes"]
            self.assertEqual(len(mem), 1)
            pl = dict(mem[0][0])
            self.assertEqual(pl["pid"], str(self.proc.pid))
            self.assertEqual(pl["command"], 'q\\"b\\\\x')
            self.assertEqual(mem[0][1], 1024 * 1024 * 1024)
            self.assertEqual(types["gpulse_gpu_busy_seconds_total"], "counter")
            self.assertEqual(types["gpulse_agent_sample_duration_seconds"], "histogram")
            self.assertIsNotNone(value("gpulse_database_size_bytes"))
            self.assertIsNotNone(value("gpulse_user_memory_bytes"))
            self.assertEqual(value("gpulse_agent_missed_ticks_total"), 0)
            # What the agent costs: per NVML function, and as a process.
            for name in ("gpulse_nvml_calls_total", "gpulse_nvml_call_seconds_total",
                         "process_cpu_seconds_total"):
                self.assertEqual(types[name], "counter", name)
            ticks = value("gpulse_agent_ticks_total")
            util = value("gpulse_nvml_calls_total", function="nvmlDeviceGetUtilizationRates")
            self.assertGreaterEqual(util, 2 * ticks)  # every GPU, every read
            self.assertEqual(value("gpulse_nvml_calls_total", function="nvmlInit_v2"), 1)
            self.assertGreater(value("gpulse_nvml_call_seconds_total", function="nvmlInit_v2"), 0)
            self.assertIsNone(value("gpulse_nvml_calls_total",
                                    function="nvmlDeviceGetPcieThroughput"))
            self.assertGreater(value("process_resident_memory_bytes"), 1 << 20)
            self.assertGreater(value("process_virtual_memory_bytes"),
                               value("process_resident_memory_bytes"))
            self.assertGreater(value("process_open_fds"), 3)
            self.assertGreater(value("process_max_fds"), value("process_open_fds"))
            self.assertAlmostEqual(value("process_start_time_seconds"), time.time(), delta=60)

    def test_pcie_only_when_asked(self):
        # The driver spends 20 ms per direction measuring PCIe throughput:
        # the agent reads it with --pcie (or the key pcie) only, then serves
        # and stores it like any field.
        scenario = {"gpus": [{"metrics": {"pcie_tx_kbps": 123456, "pcie_rx_kbps": 654321}}]}
        names = ("DCGM_FI_DEV_PCIE_TX_THROUGHPUT", "DCGM_FI_DEV_PCIE_RX_THROUGHPUT")
        for args, config in (([], None), (["--pcie"], None), ([], {"pcie": True})):
            if config is not None:
                path = os.path.join(self.tmp, "pcie.json")
                with open(path, "w") as f:
                    json.dump(config, f)
                args = ["--config", path]
            on = args != []
            with Agent(scenario, args=args) as agent:
                samples, types = parse(agent.get("/metrics")[2].decode())
                for name in names:
                    got = [v for (n, _), v in samples.items() if n == name]
                    self.assertEqual(got, [123456.0 if "TX" in name else 654321.0] if on else [],
                                     (args, name))
                    if on:
                        self.assertEqual(types[name], "gauge")

                def flushed():
                    try:
                        row = query_db(agent.database, "SELECT count(*), count(pcie_tx_kbps),"
                                       " max(pcie_tx_kbps), max(pcie_rx_kbps) FROM samples")[0]
                    except sqlite3.Error:
                        return None
                    return row if row[0] > 0 else None

                row = agent.wait_for(flushed, timeout=15, what="a flush")
                if on:
                    self.assertEqual(row[1], row[0], args)
                    self.assertEqual(row[2:], (123456, 654321))
                else:
                    self.assertEqual(row[1:], (0, None, None))

    def test_exited_processes_leave(self):
        sleeper = subprocess.Popen(["sleep", "600"])
        scenario = {"gpus": [{"processes": [{"pid": sleeper.pid, "memory_mib": 64,
                                             "end_s": 3}]}]}
        with Agent(scenario) as agent:
            has = lambda: "pid=\"%d\"" % sleeper.pid in agent.get("/metrics")[2].decode()
            self.assertTrue(has())
            agent.wait_for(lambda: not has(), timeout=15, what="the process series to leave")
        sleeper.kill()
        sleeper.wait()

    def test_real_prometheus_scrapes_the_agent(self):
        prometheus = shutil.which("prometheus")
        self.assertIsNotNone(prometheus, "prometheus is needed (scripts/install-deps.sh)")
        with Agent(self.scenario) as agent:
            target = agent.url.split("//")[1].rstrip("/")
            port = free_port()
            config = os.path.join(self.tmp, "prometheus.yml")
            with open(config, "w") as f:
                f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                        "scrape_configs:\n  - job_name: gpulse\n    static_configs:\n"
                        "      - targets: ['%s']\n" % target)
            data = os.path.join(self.tmp, "tsdb")
            prom = subprocess.Popen([prometheus, "--config.file=" + config,
                                     "--storage.tsdb.path=" + data,
                                     "--web.listen-address=127.0.0.1:%d" % port],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                def query():
                    url = "http://127.0.0.1:%d/api/v1/query?%s" % (
                        port, urllib.parse.urlencode({"query": "DCGM_FI_DEV_GPU_UTIL"}))
                    try:
                        with urllib.request.urlopen(url, timeout=5) as r:
                            doc = json.load(r)
                    except OSError:
                        return None
                    result = doc["data"]["result"]
                    return result if len(result) == 2 else None

                result = agent.wait_for(query, timeout=60, what="Prometheus to scrape")
                got = {r["metric"]["gpu"]: float(r["value"][1]) for r in result}
                self.assertEqual(got, {"0": 63.0, "1": 7.0})
                self.assertTrue(all(r["metric"]["job"] == "gpulse" for r in result))
                self.assertEqual(result[0]["metric"]["modelName"].startswith("NVIDIA"), True)
                # The target is healthy: every scrape parsed.
                with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/targets" % port) as r:
                    targets = json.load(r)["data"]["activeTargets"]
                self.assertEqual(targets[0]["health"], "up", targets[0].get("lastError"))
            finally:
                prom.terminate()
                prom.wait(timeout=30)


if __name__ == "__main__":
    unittest.main()
