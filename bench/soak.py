"""The soak test's driver (bench/soak.sh runs it): one agent at a short
interval against a simulated machine where processes come and go, every
documented endpoint scraped once a second, the agent's resident memory
(VmRSS) and open file descriptors printed over time, and a verdict at the
end: both flat when the last fifth of the run (after the warm-up) is within
the allowance of the first fifth (RSS: medians, within 5 % or 1 MiB; fds:
the fewest of each, equal).

Usage: soak.py GPULSE_BINARY SIM_LIBRARY WORKDIR
Environment: SOAK_S (1800), SOAK_INTERVAL (100ms), SOAK_WARMUP_S (a tenth
of SOAK_S, at least 240: the caches fill to their bounds in the first
minutes), SOAK_REPORT_S (how often a line is printed, 10),
SOAK_GPUS (4), SOAK_RSS_SLACK_KIB (1024: growth allowed besides 5 %).
Exit status: 0 flat, 1 not flat or an endpoint answered 5xx, 2 the agent
died."""

import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

SOAK_S = int(os.environ.get("SOAK_S", "1800"))
INTERVAL = os.environ.get("SOAK_INTERVAL", "100ms")
WARMUP_S = int(os.environ.get("SOAK_WARMUP_S", str(max(240, SOAK_S // 10))))
REPORT_S = int(os.environ.get("SOAK_REPORT_S", "10"))
GPUS = int(os.environ.get("SOAK_GPUS", "4"))
RSS_SLACK_KIB = int(os.environ.get("SOAK_RSS_SLACK_KIB", "1024"))

# Every endpoint of docs/http.md, with the parameters a dashboard, a
# scraper or a curious user sends: history over ranges from minutes (raw
# samples) to a year (day rollups), at several resolutions and point counts.
ENDPOINTS = [
    ("/", {}), ("/assets/app.js", {}), ("/favicon.svg", {}),
    ("/health", {}), ("/metrics", {}), ("/metrics", {"Accept-Encoding": "gzip"}),
    ("/api/v1/info", {}), ("/api/v1/now", {}), ("/api/v1/now", {"Accept-Encoding": "gzip"}),
    ("/api/v1/history", {}),
    ("/api/v1/history?from=-2m&step=raw&points=10000", {}),
    ("/api/v1/history?from=-15m&points=100&metrics=utilization_gpu_pct,power_mw", {}),
    ("/api/v1/history?gpu=0&from=-1h&to=now&points=1000", {}),
    ("/api/v1/history?from=-6h&step=minute", {}),
    ("/api/v1/history?from=-24h&points=300", {}),
    ("/api/v1/history?from=-7d&step=hour", {}),
    ("/api/v1/history?from=-30d&points=10000", {}),
    ("/api/v1/history?from=-1y&step=day", {}),
    ("/api/v1/processes", {}),
    ("/api/v1/processes?active=true&sort=gpu_seconds", {}),
    ("/api/v1/processes?since=-10m&sort=pid&limit=10000", {}),
    ("/api/v1/processes?q=sleep&sort=memory", {}),
    ("/api/v1/users", {}),
    ("/api/v1/activity", {}), ("/api/v1/activity?weeks=4&gpu=all", {}),
    ("/gpu-activity.svg", {}), ("/gpu-activity.svg?theme=dark&weeks=12&gpu=1", {}),
]


def scenario(path, real_pids):
    """GPUS GPUs; on each, real processes (sleepers this script started)
    that come onto the GPU and leave it again in cycles, and a stream of
    short-lived ones that appear once each: one new every 2 s, 6 s long
    (PIDs that /proc may not know, as for a process in another namespace
    or one that already exited)."""
    gpus = []
    for g in range(GPUS):
        procs = []
        for k, pid in enumerate(real_pids):
            if k % GPUS == g:
                procs.append({"pid": pid, "memory_mib": {"pattern": "random_walk", "seed": pid,
                                                         "start": 2048, "step": 256, "min": 256,
                                                         "max": 8192},
                              "sm_pct": 40, "start_s": 3 * k % 10, "end_s": 3 * k % 10 + 20,
                              "cycle_s": 30})
        gpus.append({
            "name": "NVIDIA H100 80GB HBM3", "memory_total_mib": 81559,
            "metrics": {
                "utilization_gpu": {"pattern": "random_walk", "seed": g, "start": 60,
                                    "step": 15, "min": 0, "max": 100},
                "power_w": {"pattern": "square", "low": 150, "high": 600, "period_s": 7,
                            "duty": 0.4},
                "temperature_c": {"pattern": "random_walk", "seed": 50 + g, "start": 55,
                                  "step": 1},
            },
            "processes": procs,
        })
    churn = SOAK_S // 2 + 60
    for i in range(churn):
        gpus[i % GPUS]["processes"].append({
            "pid": 20000 + i % 12000, "memory_mib": 1024, "sm_pct": 25,
            "start_s": 2 * i, "end_s": 2 * i + 6})
    with open(path, "w") as f:
        json.dump({"gpus": gpus}, f)


def status_of(pid):
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    fds = len(os.listdir("/proc/%d/fd" % pid))
    threads = len(os.listdir("/proc/%d/task" % pid))
    return rss, fds, threads


def db_kib(db):
    """The database and its WAL, KiB: SQLite's page caches (16 MiB per
    connection, store/db.c) hold what they read of it, so while the file is
    smaller than that the agent's RSS grows with it."""
    total = 0
    for path in (db, db + "-wal"):
        try:
            total += os.stat(path).st_size
        except OSError:
            pass
    return total // 1024


def fetch(url, headers):
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        e.read()
        return e.code
    except (urllib.error.URLError, OSError):
        return 0


def verdict(name, rows, allowance, stat=statistics.median):
    """rows: the values after the warm-up. Flat when stat (the median) of
    the last fifth is within allowance(first) of the first fifth's."""
    n = max(1, len(rows) // 5)
    first, last = stat(rows[:n]), stat(rows[-n:])
    flat = last <= first + allowance(first)
    print("%s: first fifth %s, last fifth %s, max %s: %s" %
          (name, first, last, max(rows), "flat" if flat else "GROWING"))
    return flat


def main():
    binary, lib, work = sys.argv[1:4]
    # Stopped early (kill, Ctrl-C): the agent and the sleepers go too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
    sleepers = [subprocess.Popen(["sleep", str(SOAK_S + 600)]) for _ in range(2 * GPUS)]
    agent = None
    try:
        scen = os.path.join(work, "soak.json")
        scenario(scen, [p.pid for p in sleepers])
        env = dict(os.environ, GPULSE_NVML_LIB=lib, GPULSE_SIM_SCENARIO=scen)
        env.setdefault("GPULSE_SIM_CALL_COST", "none")
        db = os.path.join(work, "soak.db")
        out = open(os.path.join(work, "agent.out"), "w+")
        agent = subprocess.Popen([binary, "agent", "--database", db, "--interval", INTERVAL,
                                  "--listen", "127.0.0.1:0"], env=env, stdout=out,
                                 stderr=subprocess.STDOUT)
        url = None
        for _ in range(300):
            out.seek(0)
            for line in out:
                if "http://" in line:
                    url = line[line.index("http://"):].split()[0].rstrip("/")
            if url or agent.poll() is not None:
                break
            time.sleep(0.1)
        if not url:
            out.seek(0)
            print("the agent did not start serving:\n" + out.read())
            return 2
        print("soak: %s agent --interval %s, %d GPUs, %d endpoints a second, %d s "
              "(warm-up %d s)" % (binary, INTERVAL, GPUS, len(ENDPOINTS), SOAK_S, WARMUP_S))
        print("%8s %10s %6s %8s %8s %10s %8s" % ("t_s", "rss_kib", "fds", "threads", "db_kib",
                                                 "requests", "bad"))
        start = time.time()
        samples = []  # (t, rss, fds, db)
        statuses = {}
        requests = bad = 0
        next_report = start
        while time.time() - start < SOAK_S:
            round_start = time.time()
            for path, headers in ENDPOINTS:
                code = fetch(url + path, headers)
                requests += 1
                statuses[(path, code)] = statuses.get((path, code), 0) + 1
                if code >= 500 and not (path == "/health" and code == 503) or code == 0:
                    bad += 1
            if agent.poll() is not None:
                print("the agent died (exit %d)" % agent.returncode)
                return 2
            now = time.time()
            if now >= next_report:
                rss, fds, threads = status_of(agent.pid)
                t = now - start
                size = db_kib(db)
                samples.append((t, rss, fds, size))
                print("%8.0f %10d %6d %8d %8d %10d %8d" % (t, rss, fds, threads, size, requests,
                                                           bad), flush=True)
                next_report += REPORT_S
            time.sleep(max(0.0, 1.0 - (time.time() - round_start)))
        print("answers by endpoint and status:")
        for (path, code), n in sorted(statuses.items()):
            print("  %5d  %3d  %s" % (n, code, path))
        steady = [s for s in samples if s[0] >= WARMUP_S]
        if len(steady) < 5:
            print("too short to judge: %d reports after the warm-up" % len(steady))
            return 1
        ok = verdict("VmRSS (KiB, median)", [s[1] for s in steady],
                     lambda first: max(first * 0.05, RSS_SLACK_KIB))
        # Connections in flight move the count by up to 8 from one report to
        # the next: the fewest of each fifth is the agent's own descriptors.
        ok = verdict("open fds (fewest)", [s[2] for s in steady], lambda first: 0,
                     stat=min) and ok
        hours = (steady[-1][0] - steady[0][0]) / 3600.0
        print("after the warm-up: RSS %+d KiB, database and WAL %+d KiB (%.2f h)" %
              (steady[-1][1] - steady[0][1], steady[-1][3] - steady[0][3], hours))
        if bad:
            print("%d requests failed (5xx or no answer)" % bad)
        print("verdict: %s" % ("flat" if ok and not bad else "NOT FLAT" if not ok else "ERRORS"))
        return 0 if ok and not bad else 1
    finally:
        if agent and agent.poll() is None:
            agent.terminate()
            agent.wait(timeout=30)
        for p in sleepers:
            p.kill()
            p.wait()


if __name__ == "__main__":
    sys.exit(main())
