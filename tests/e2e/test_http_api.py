"""The agent's HTTP API against the simulated GPUs: every endpoint, the
history resolution over ranges up to a year, the activity graph, and every
kind of bad request."""
import datetime
import json
import os
import re
import socket
import subprocess
import tempfile
import time
import unittest

from gpulse_e2e import GEN, GPULSE, Agent, run, write_scenario

DAY = 86400


def scenario():
    """Two GPUs with fixed readings, GPU 0 busy in a 3.7-day square wave so
    the year holds idle, partly and fully active days."""
    return {
        "driver_version": "555.42.02",
        "cuda_version": 12050,
        "gpus": [
            {"name": "NVIDIA H100 80GB HBM3", "memory_total_mib": 81559,
             "metrics": {"utilization_gpu": {"pattern": "square", "high": 80, "low": 0,
                                             "period_s": 3.7 * DAY, "duty": 0.35},
                         "temperature_c": 61, "power_w": 350}},
            {"name": "NVIDIA A100 80GB PCIe",
             "metrics": {"utilization_gpu": 12, "temperature_c": 44, "power_w": 90}},
        ],
    }


class ApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="gpulse-api-")
        cls.db = os.path.join(cls.dir, "year.db")
        cls.scenario = write_scenario(scenario())
        # A year of history, as an agent sampling every 5 min would have left.
        p = subprocess.run([GEN, "--scenario", cls.scenario, "--database", cls.db,
                            "--from", "-366d", "--to", "-2m", "--interval", "5m",
                            "--timezone", "UTC", "--prune"],
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        cls.sleeper = subprocess.Popen(["sleep", "600"])
        live = scenario()
        live["gpus"][1]["processes"] = [{"pid": cls.sleeper.pid, "memory_mib": 700,
                                         "sm_pct": 9}]
        cls.live_scenario = write_scenario(live)
        cls.agent = Agent(cls.live_scenario, database=cls.db, env={"TZ": "UTC"}).__enter__()
        cls.agent.wait_for(
            lambda: cls.agent.json("/api/v1/processes?active=true")["count"] == 1,
            what="the live process stored")

    @classmethod
    def tearDownClass(cls):
        cls.agent.__exit__(None, None, None)
        cls.sleeper.kill()
        cls.sleeper.wait()
        os.unlink(cls.scenario)
        os.unlink(cls.live_scenario)

    def error(self, path, status, parameter=None, **kw):
        code, headers, body = self.agent.get(path, **kw)
        self.assertEqual(code, status, body)
        self.assertEqual(headers["content-type"], "application/json")
        doc = json.loads(body)["error"]
        self.assertEqual(doc["status"], status)
        self.assertTrue(doc["message"])
        if parameter:
            self.assertEqual(doc.get("parameter"), parameter, doc)
        return doc

    # ------------------------------------------------------------ basics --

    def test_health(self):
        code, _, body = self.agent.get("/health")
        self.assertEqual(code, 200, body)
        doc = json.loads(body)
        self.assertEqual(doc["status"], "ok")
        self.assertEqual(doc["failing"], [])
        self.assertEqual(doc["gpus"], {"seen": 2, "lost": 0, "not_responding": 0})
        self.assertLess(doc["sampler"]["last_sample_age_s"], 3)
        self.assertEqual(doc["database"]["state"], "ok")
        self.assertEqual(doc["queue"]["dropped"], 0)

    def test_health_names_a_lost_nvml(self):
        lost = {"gpus": [{"lost_at_s": 0}]}
        with Agent(lost) as a:
            code, _, body = a.get("/health")
            self.assertEqual(code, 503, body)
            doc = json.loads(body)
            self.assertEqual(doc["failing"], ["nvml"])
            self.assertEqual(doc["gpus"], {"seen": 1, "lost": 1, "not_responding": 0})

    def test_info(self):
        doc = self.agent.json("/api/v1/info")
        self.assertEqual(doc["driver_version"], "555.42.02")
        self.assertEqual(doc["cuda_version"], "12.5")
        self.assertEqual([g["name"] for g in doc["gpus"]],
                         ["NVIDIA H100 80GB HBM3", "NVIDIA A100 80GB PCIe"])
        self.assertEqual(doc["gpus"][0]["memory_total_bytes"], 81559 * 1024 * 1024)
        self.assertEqual(doc["host"], socket.gethostname())
        self.assertGreaterEqual(doc["uptime_s"], 0)
        # The thresholds gpulse now's table colours by, for the dashboard.
        self.assertEqual(doc["temperature_thresholds_c"], {"warn": 80, "hot": 90})

    def test_numbers_have_meaningful_precision(self):
        """Percentages with at most 2 decimals, everything else at most 3
        (seconds to the ms), never 76.000047999903998."""
        def walk(v, key, path):
            if isinstance(v, dict):
                for k, x in v.items():
                    walk(x, k, path + "." + k)
            elif isinstance(v, list):
                for x in v:
                    walk(x, key, path + "[]")
            elif isinstance(v, float):
                decimals = 2 if key.endswith("_pct") else 3
                self.assertEqual(v, round(v, decimals), path)
        for path in ("/api/v1/processes?limit=1000", "/api/v1/activity?gpu=all",
                     "/api/v1/users", "/api/v1/info", "/api/v1/now", "/health"):
            walk(self.agent.json(path) if path != "/health" else json.loads(
                self.agent.get(path)[2]), "", path)

    def test_now_is_the_latest_tick(self):
        a = self.agent.json("/api/v1/now")
        self.assertEqual(a["schema"], "gpulse.now.v1")
        g1 = a["gpus"][1]
        self.assertEqual(g1["utilization_gpu_pct"], 12)
        self.assertEqual(g1["temperature_c"], 44)
        self.assertEqual(g1["power_mw"], 90000)
        self.assertEqual([p["pid"] for p in g1["processes"]], [self.sleeper.pid])
        self.assertLess(abs(a["time_ms"] / 1000 - time.time()), 3)
        b = self.agent.wait_for(lambda: (lambda d: d if d["time_ms"] > a["time_ms"] else None)(
            self.agent.json("/api/v1/now")), what="a newer tick")
        self.assertGreater(b["time_ms"], a["time_ms"])

    def test_head_and_headers(self):
        code, headers, body = self.agent.get("/api/v1/now", method="HEAD")
        self.assertEqual(code, 200)
        self.assertEqual(body, b"")
        self.assertEqual(headers["x-content-type-options"], "nosniff")
        self.assertEqual(headers["cache-control"], "no-store")
        code, headers, body = self.agent.get("/")
        self.assertEqual(code, 200)
        self.assertIn("text/html", headers["content-type"])
        self.assertIn("script-src 'self'", headers["content-security-policy"])
        self.assertIn(b"/assets/uPlot.min.js", body)
        code, headers, body = self.agent.get("/assets/uPlot.min.js")
        self.assertEqual(code, 200)
        self.assertGreater(len(body), 30000)
        code, _, _ = self.agent.get("/assets/uPlot.min.js",
                                    headers={"If-None-Match": headers["etag"]})
        self.assertEqual(code, 304)

    def test_gzip_for_clients_that_take_it(self):
        import gzip
        code, headers, body = self.agent.get("/metrics", headers={"Accept-Encoding": "gzip"})
        self.assertEqual(code, 200)
        self.assertEqual(headers.get("content-encoding"), "gzip")
        self.assertEqual(headers.get("vary"), "Accept-Encoding")
        text = gzip.decompress(body).decode()
        self.assertIn("DCGM_FI_DEV_GPU_UTIL{", text)
        self.assertLess(len(body), len(text) / 4)
        for refused in ("gzip;q=0", "identity", "br, deflate"):
            code, headers, body = self.agent.get("/metrics", headers={"Accept-Encoding": refused})
            self.assertNotIn("content-encoding", headers, refused)
            self.assertTrue(body.startswith(b"# HELP"), refused)
        code, headers, body = self.agent.get("/api/v1/now",
                                             headers={"Accept-Encoding": "br;q=1, gzip;q=0.5"})
        self.assertEqual(headers.get("content-encoding"), "gzip")
        self.assertEqual(json.loads(gzip.decompress(body))["schema"], "gpulse.now.v1")

    # ----------------------------------------------------------- history --

    def test_history_resolution_follows_the_range(self):
        now = int(time.time())
        for span, points in ((3600, 1000), (DAY, 1000), (7 * DAY, 1000), (30 * DAY, 1000),
                             (365 * DAY, 1000), (365 * DAY, 100), (30 * DAY, 10)):
            doc = self.agent.json("/api/v1/history?gpu=0&from=%d&to=%d&points=%d" % (
                now - span, now, points))
            self.assertEqual(len(doc["series"]), 1)
            n = len(doc["series"][0]["t_ms"])
            self.assertLessEqual(n, points, (span, doc["resolution"]))
            # Not needlessly coarse: at least a fifth of what was asked.
            if span > 3600:
                self.assertGreaterEqual(n, points / 5, (span, points, doc["resolution"], n))
            for key in ("utilization_gpu_pct", "temperature_c", "busy_pct", "samples"):
                self.assertEqual(len(doc["series"][0][key]), n)
            self.assertEqual(len(doc["series"][0]["max"]["temperature_c"]), n)
            # whole buckets (days: UTC midnights, the agent's zone) covering the range
            self.assertLessEqual(doc["from_ms"], (now - span) * 1000)
            self.assertGreaterEqual(doc["to_ms"], now * 1000)
            width = DAY * 1000 if doc["resolution"].endswith("d") else doc["step_ms"]
            for t in [doc["from_ms"], doc["to_ms"]] + doc["series"][0]["t_ms"]:
                self.assertEqual(t % width, 0, (span, points, doc["resolution"], t))

    def test_year_values_come_from_the_rollups(self):
        now = int(time.time())
        doc = self.agent.json("/api/v1/history?from=%d&to=%d&metrics=temperature_c,power_mw"
                              % (now - 365 * DAY, now))
        self.assertEqual(doc["resolution"], "1d")
        self.assertEqual(doc["metrics"], ["temperature_c", "power_mw"])
        self.assertEqual([s["gpu"] for s in doc["series"]], [0, 1])
        temps = [v for v in doc["series"][1]["temperature_c"] if v is not None]
        self.assertGreater(len(temps), 300)
        self.assertTrue(all(v == 44 for v in temps), set(temps))
        powers = [v for v in doc["series"][0]["power_mw"] if v is not None]
        self.assertTrue(all(v == 350000 for v in powers), set(powers))
        # GPU 0's square wave: 35 % of the time at 80 %, the rest idle.
        busy = [v for v in doc["series"][0]["busy_pct"] if v is not None]
        mean = sum(busy) / len(busy)
        self.assertAlmostEqual(mean, 28, delta=3)

    def test_cached_answers_follow_new_data(self):
        # 10 minutes at 250 points: 5 s buckets, cached between flushes.
        path = "/api/v1/history?gpu=1&from=-10m&points=250&metrics=temperature_c"
        first = self.agent.json(path)
        self.assertEqual(first["resolution"], "5s")
        self.assertEqual(self.agent.json(path), first)  # the same bytes, from the cache
        last = first["series"][0]["t_ms"][-1]
        later = self.agent.wait_for(
            lambda: (lambda d: d if d["series"][0]["t_ms"][-1] > last else None)(
                self.agent.json(path)), timeout=20, what="a newer bucket")
        self.assertGreater(later["series"][0]["t_ms"][-1], last)

    def test_cli_and_api_write_the_same_document(self):
        now = int(time.time())
        # Past ranges, whose data no longer changes: days, merged days, hours
        # for one GPU, and raw samples (15 minutes at a 1 s interval fit).
        queries = ["from=%d&to=%d&gpu=all" % (now - 300 * DAY, now - 10 * DAY),
                   "from=%d&to=%d&points=100&gpu=1&metrics=temperature_c,power_mw"
                   % (now - 300 * DAY, now - 2 * DAY),
                   "from=%d&to=%d&points=50&step=hour&gpu=0" % (now - 5 * DAY, now - 3 * DAY),
                   "from=%d&to=%d&gpu=0&metrics=utilization_gpu_pct" % (now - 3 * DAY - 900,
                                                                        now - 3 * DAY)]
        resolutions = []
        for query in queries:
            status, _, body = self.agent.get("/api/v1/history?" + query)
            self.assertEqual(status, 200, body)
            args = ["history", "--database", self.db, "--format", "json", "--set", "timezone=UTC"]
            for pair in query.split("&"):
                key, value = pair.split("=")
                args += ["--" + key, value]
            p = run(args)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(json.loads(p.stdout), json.loads(body), query)
            self.assertEqual(p.stdout.encode(), body, query)  # byte for byte
            resolutions.append(json.loads(body)["resolution"])
        self.assertEqual(resolutions, ["1d", "3d", "1h", "raw"])

    # --------------------------------------------------------- processes --

    def test_processes(self):
        doc = self.agent.json("/api/v1/processes?active=true")
        self.assertEqual(doc["count"], 1)
        p = doc["processes"][0]
        self.assertEqual(p["pid"], self.sleeper.pid)
        self.assertEqual(p["command"], "sleep")
        self.assertEqual(p["gpu"], 1)
        self.assertTrue(p["active"])
        self.assertEqual(p["memory_now_bytes"], 700 * 1024 * 1024)
        self.assertEqual(p["sm_pct_now"], 12)  # alone on GPU 1: the GPU's utilization
        self.assertEqual(self.agent.json("/api/v1/processes?q=SLEEP%20600")["count"], 1)
        self.assertEqual(self.agent.json("/api/v1/processes?q=nothing-like-it")["count"], 0)
        self.assertEqual(self.agent.json("/api/v1/processes?gpu=0&active=1")["count"], 0)
        self.assertEqual(self.agent.json("/api/v1/processes?user=nobody-here")["count"], 0)
        doc = self.agent.json("/api/v1/processes?limit=1&sort=pid")
        self.assertLessEqual(doc["count"], 1)

    def test_users(self):
        doc = self.agent.json("/api/v1/users")
        self.assertEqual(set(doc["periods"]), {"today", "week", "month"})
        names = [u["user"] for u in doc["users"]]
        import pwd
        self.assertIn(pwd.getpwuid(os.geteuid()).pw_name, names)

    # ---------------------------------------------------------- activity --

    def test_activity_and_svg_agree(self):
        act = self.agent.json("/api/v1/activity?weeks=53&gpu=0")
        self.assertEqual(act["weeks"], 53)
        by_date = {d["date"]: d for d in act["days"]}
        self.assertGreater(act["summary"]["active_days"], 50)
        self.assertLess(act["summary"]["active_days"], act["summary"]["days"])
        code, headers, body = self.agent.get("/gpu-activity.svg?weeks=53&gpu=0")
        self.assertEqual(code, 200)
        self.assertEqual(headers["content-type"], "image/svg+xml")
        self.assertEqual(headers["cache-control"], "public, max-age=1800")
        svg = body.decode()
        cells = re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="\d+" height="\d+" rx="2" '
                           r'fill="(#[0-9a-f]{6})"(?: stroke="#[0-9a-f]{6}")? '
                           r'data-date="([0-9-]+)" data-level="(\d|none)"><title>([^<]*)</title>',
                           svg)
        today = datetime.date.fromisoformat(act["today"])
        weekday = (today.weekday() + 1) % 7  # Sunday 0
        self.assertEqual(len(cells), 52 * 7 + weekday + 1)
        self.assertEqual(cells[-1][1], act["today"])
        levels = set()
        for colour, date, level, title in cells:
            if date not in by_date:
                # Nothing observed that day: unknown, not an idle day.
                self.assertEqual(level, "none", date)
                self.assertEqual(title, "No data on " + date)
                continue
            minutes = by_date[date]["active_minutes"]
            want = 0 if minutes == 0 else 1 if minutes < 60 else 2 if minutes < 180 \
                else 3 if minutes < 360 else 4
            self.assertEqual(int(level), want, (date, minutes))
            levels.add(want)
            if minutes:
                self.assertTrue(title.endswith("of GPU activity on " + date), title)
            else:
                self.assertEqual(title, "No GPU activity on " + date)
        self.assertGreaterEqual(len(levels), 4, levels)
        s = act["summary"]
        self.assertIn("%d active days in 53 weeks" % s["active_days"], svg)
        self.assertIn("current streak %d day" % s["current_streak"], svg)
        self.assertIn("Less", svg)
        self.assertIn("More", svg)

    def test_svg_is_valid_and_themes_differ_only_in_colours(self):
        svgs = {}
        for theme in ("light", "dark"):
            code, _, body = self.agent.get("/gpu-activity.svg?theme=%s&weeks=20" % theme)
            self.assertEqual(code, 200)
            p = subprocess.run(["xmllint", "--noout", "-"], input=body, capture_output=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            svgs[theme] = body.decode()
        self.assertNotEqual(svgs["light"], svgs["dark"])
        strip = lambda s: re.sub(r"#[0-9a-f]{6}", "#", s)
        self.assertEqual(strip(svgs["light"]), strip(svgs["dark"]))

    def test_svg_weeks_change_the_width(self):
        widths = []
        for weeks in (1, 12, 30, 53):
            _, _, body = self.agent.get("/gpu-activity.svg?weeks=%d" % weeks)
            widths.append(int(re.search(rb'<svg[^>]* width="(\d+)"', body).group(1)))
            self.assertEqual(body.count(b"data-level="), (weeks - 1) * 7 + (
                (datetime.date.today().weekday() + 1) % 7) + 1)
        self.assertEqual(widths, sorted(set(widths)), widths)

    def test_svg_etag(self):
        code, headers, body = self.agent.get("/gpu-activity.svg?theme=dark")
        self.assertEqual(code, 200)
        etag = headers["etag"]
        code, _, body = self.agent.get("/gpu-activity.svg?theme=dark",
                                       headers={"If-None-Match": etag})
        self.assertEqual(code, 304)
        self.assertEqual(body, b"")
        code, _, _ = self.agent.get("/gpu-activity.svg?theme=light",
                                    headers={"If-None-Match": etag})
        self.assertEqual(code, 200)

    def test_svg_command_writes_the_same_graph(self):
        p = run(["svg", "--database", self.db, "--theme", "dark", "--weeks", "10",
                 "--set", "timezone=UTC"])
        self.assertEqual(p.returncode, 0, p.stderr)
        _, _, body = self.agent.get("/gpu-activity.svg?theme=dark&weeks=10")
        strip = lambda s: re.sub(r"<title>[^<]*</title>", "", re.sub(r'data-level="\w+"', "", s))
        # Today's cell may have gained a minute between the two; the rest is equal.
        self.assertEqual(strip(p.stdout).split("</g>")[0], strip(body.decode()).split("</g>")[0])
        p = run(["svg", "--database", self.db, "--weeks", "54"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("--weeks", p.stderr)

    # ------------------------------------------------------ bad requests --

    def test_bad_parameters_name_the_parameter(self):
        cases = [
            ("/api/v1/history?gpu=%3Cscript%3E", "gpu"),
            ("/api/v1/history?from=yesterday-ish", "from"),
            ("/api/v1/history?to=13:99", "to"),
            ("/api/v1/history?from=now&to=-1h", "from"),
            ("/api/v1/history?points=0", "points"),
            ("/api/v1/history?points=10001", "points"),
            ("/api/v1/history?points=-5", "points"),
            ("/api/v1/history?metrics=utilization_gpu_pct,rm%20-rf", "metrics"),
            ("/api/v1/history?metrics=", "metrics"),
            ("/api/v1/history?gpu=0&gpu=1", "gpu"),
            ("/api/v1/history?colour=red", "colour"),
            ("/api/v1/history?step=week", "step"),
            ("/api/v1/processes?active=maybe", "active"),
            ("/api/v1/processes?sort=cpu", "sort"),
            ("/api/v1/processes?limit=0", "limit"),
            ("/api/v1/processes?since=soon", "since"),
            ("/api/v1/processes?q=" + "x" * 300, "q"),
            ("/api/v1/activity?weeks=54", "weeks"),
            ("/api/v1/activity?weeks=0", "weeks"),
            ("/gpu-activity.svg?theme=blue", "theme"),
            ("/gpu-activity.svg?weeks=abc", "weeks"),
            ("/gpu-activity.svg?gpu=GPU-%22%3E%3Csvg", "gpu"),
            ("/metrics?format=json", "format"),
            ("/api/v1/now?x=1", "x"),
            ("/?debug=1", "debug"),
        ]
        for path, parameter in cases:
            with self.subTest(path=path):
                doc = self.error(path, 400, parameter)
                self.assertIn(parameter, doc["message"])

    def test_unknown_paths_and_methods(self):
        self.error("/api/v1/nothing", 404)
        self.error("/../../etc/passwd", 404)
        self.error("/assets/../index.html", 404)
        for method in ("POST", "PUT", "DELETE"):
            code, headers, body = self.agent.get("/api/v1/now", method=method)
            self.assertEqual(code, 405)
            self.assertEqual(headers["allow"], "GET, HEAD")
            self.assertEqual(json.loads(body)["error"]["status"], 405)

    def raw(self, data):
        host, port = self.agent.url.split("//")[1].rstrip("/").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(data)
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
                if b"\r\n\r\n" in out and len(out) > 12:
                    break
        return out

    def test_request_limits(self):
        too_many = b"".join(b"X-H%d: v\r\n" % i for i in range(80))
        out = self.raw(b"GET /api/v1/now HTTP/1.1\r\nHost: 127.0.0.1\r\n" + too_many + b"\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 431"), out[:80])
        huge = b"GET /api/v1/now?q=" + b"a" * 40000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        out = self.raw(huge)
        self.assertRegex(out[:12].decode(), r"HTTP/1\.1 (414|431)", out[:80])
        out = self.raw(b"GET /api/v1/now HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n\r\nhello")
        self.assertTrue(out.startswith(b"HTTP/1.1 413"), out[:80])
        out = self.raw(b"NOT A REQUEST\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 400") or out == b"", out[:80])
        # The agent is still fine after all of that.
        self.assertEqual(self.agent.get("/health")[0], 200)


class CliAndApiAgree(unittest.TestCase):
    """The same resource asked the same of the CLI and of the API is the
    same document: one builder, one shape per schema id."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="gpulse-same-")
        cls.db = os.path.join(cls.dir, "same.db")
        # Three days of recurring jobs: closed lifetimes that no longer change.
        history = {"gpus": [
            {"metrics": {"utilization_gpu": {"pattern": "square", "high": 90, "low": 0,
                                             "period_s": 5 * 3600, "duty": 0.4}},
             "processes": [{"pid": 4194301, "memory_mib": 900, "sm_pct": 55,
                            "start_s": 0, "end_s": 3600, "cycle_s": 3 * 3600}]},
            {"metrics": {"utilization_gpu": 25},
             "processes": [{"pid": 4194302, "memory_mib": 300, "sm_pct": 12,
                            "start_s": 600, "end_s": 5000, "cycle_s": 4 * 3600}]},
        ]}
        cls.scenario = write_scenario(history)
        p = subprocess.run([GEN, "--scenario", cls.scenario, "--database", cls.db,
                            "--from", "-3d", "--to", "-10m", "--interval", "1m",
                            "--timezone", "UTC"], capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr
        # The agent samples on, with no process running.
        cls.agent = Agent({"gpus": [{}, {}]}, database=cls.db, env={"TZ": "UTC"}).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.agent.__exit__(None, None, None)
        os.unlink(cls.scenario)

    def cli(self, *args):
        p = run(list(args) + ["--database", self.db, "--format", "json"], env={"TZ": "UTC"})
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def test_processes(self):
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2 * DAY))
        cases = [
            # the API's defaults, spelled out for the CLI
            ((), ("--sort", "last_seen", "--limit", "100")),
            (("gpu=1", "sort=gpu_seconds", "limit=5"),
             ("--gpu", "1", "--sort", "gpu_seconds", "--limit", "5")),
            (("since=" + since, "q=SIM-4194301", "sort=pid", "limit=1000"),
             ("--since", since, "--q", "SIM-4194301", "--sort", "pid", "--limit", "1000")),
            (("sort=memory", "limit=3", "gpu=all"),
             ("--sort", "memory", "--limit", "3", "--gpu", "all")),
        ]
        for params, args in cases:
            with self.subTest(params=params):
                api = self.agent.json("/api/v1/processes?" + "&".join(params))
                cli = self.cli("processes", *args)
                self.assertGreater(api["count"], 0)
                # Only the agent knows what runs now; nothing does here.
                self.assertEqual({p.pop("active") for p in api["processes"]}, {False})
                self.assertEqual({p.pop("active") for p in cli["processes"]}, {None})
                self.assertEqual(cli, api)
        # The older CLI spelling of a sort key gives the same document.
        self.assertEqual(self.cli("processes", "--sort", "gpu-time", "--limit", "5"),
                         self.cli("processes", "--sort", "gpu_seconds", "--limit", "5"))

    def test_activity(self):
        for params, args in ((("weeks=2", "gpu=all"), ("--weeks", "2", "--gpu", "all")),
                             (("weeks=53",), ("--weeks", "53")),
                             (("weeks=1", "gpu=0"), ("--weeks", "1", "--gpu", "0"))):
            with self.subTest(params=params):
                # Today's minutes close as the agent runs: ask again if one closed between.
                for _ in range(3):
                    api = self.agent.json("/api/v1/activity?" + "&".join(params))
                    cli = self.cli("activity", *args)
                    if cli == api:
                        break
                self.assertEqual(cli, api)
                self.assertGreater(api["summary"]["active_days"], 0)

    def test_now_has_one_shape(self):
        api = self.agent.json("/api/v1/now")
        p = run(["now", "--format", "json"], {"gpus": [{}, {}]})
        self.assertEqual(p.returncode, 0, p.stderr)
        cli = json.loads(p.stdout)
        self.assertEqual(list(cli), list(api))
        self.assertEqual(list(cli["gpus"][0]), list(api["gpus"][0]))
        # What only a running agent has is null from the CLI.
        self.assertEqual((cli["agent_start"], cli["interval_s"]), (None, None))
        self.assertEqual(api["interval_s"], 1.0)


class ListenTest(unittest.TestCase):
    def test_bad_listen_addresses_are_refused(self):
        for value, words in (("127.0.0.1", "HOST:PORT"), ("127.0.0.1:99999", "port"),
                             ("example.com:80", "not an IPv4")):
            p = run(["agent", "--listen", value, "--database", "/tmp/unused.db"])
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("http.listen", p.stderr)
            self.assertIn(words, p.stderr)

    def test_port_in_use_is_named(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        with tempfile.TemporaryDirectory() as d:
            p = run(["agent", "--listen", "127.0.0.1:%d" % port, "--database",
                     os.path.join(d, "g.db")], {"gpus": [{}]}, timeout=30)
        s.close()
        self.assertEqual(p.returncode, 1)
        self.assertIn("127.0.0.1:%d" % port, p.stderr)
        self.assertIn("in use", p.stderr)


if __name__ == "__main__":
    unittest.main()
