#!/usr/bin/env python3
"""The agent's start and stop, against the simulated NVML: how long from
exec until the HTTP port answers /health (and until the first tick is
read), with a driver that answers
nvmlInit at once and with one whose nvmlInit takes 3 s; and how long a
SIGTERM takes to end it, sampling (also with 200 ticks of 8 GPUs left for
the final flush) and while nvmlInit hangs. Medians of
--runs runs for each binary given (the first is the baseline; a ratio is
printed against it).

  bench/lifecycle.py --sim build/sim/libnvidia-ml.so.1 OLD/gpulse build/gpulse
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=1) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def start(binary, sim, scenario, workdir, extra=()):
    path = os.path.join(workdir, "scenario.json")
    with open(path, "w") as f:
        json.dump(scenario, f)
    port = free_port()
    env = dict(os.environ, GPULSE_NVML_LIB=sim, GPULSE_SIM_SCENARIO=path,
               GPULSE_SIM_CALL_COST="none")
    db = os.path.join(workdir, "gpulse.db")
    for suffix in ("", "-wal", "-shm", ".lock"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)
    p = subprocess.Popen([binary, "agent", "--database", db, "--interval", "1s",
                          "--listen", "127.0.0.1:%d" % port] + list(extra),
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p, port


def time_to_answer(binary, sim, scenario, workdir):
    t0 = time.monotonic()
    p, port = start(binary, sim, scenario, workdir)
    while answers(port) is None:
        if time.monotonic() - t0 > 30:
            break
        time.sleep(0.005)
    took = time.monotonic() - t0
    p.kill()
    p.wait()
    return took * 1000


def time_to_first_tick(binary, sim, scenario, workdir):
    """From exec to the first tick's read (its time_ms, as the agent
    recorded it), polling gently so as not to load the agent meanwhile."""
    t0 = time.time()
    p, port = start(binary, sim, scenario, workdir)
    took = None
    while took is None and time.time() - t0 < 30:
        time.sleep(0.1)
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/now" % port,
                                        timeout=1) as r:
                took = json.load(r)["time_ms"] / 1000 - t0
        except (OSError, urllib.error.HTTPError):
            pass
    p.kill()
    p.wait()
    return (took or 30) * 1000


def time_to_stop(binary, sim, scenario, workdir, wait_s, extra=()):
    p, port = start(binary, sim, scenario, workdir, extra)
    time.sleep(wait_s)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    return (time.monotonic() - t0) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sim", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("binaries", nargs="+")
    args = ap.parse_args()
    gpus = [{"name": "Sim %d" % i, "processes": [{"pid": 4000 + i, "memory_mib": 100}]}
            for i in range(8)]
    cases = [
        ("port answers, nvmlInit at once (ms)",
         lambda b, d: time_to_answer(b, args.sim, {"gpus": gpus}, d)),
        ("first tick read (its time_ms), nvmlInit at once (ms)",
         lambda b, d: time_to_first_tick(b, args.sim, {"gpus": gpus}, d)),
        ("port answers, nvmlInit takes 3 s (ms)",
         lambda b, d: time_to_answer(b, args.sim, {"init": {"delay_s": 3}, "gpus": gpus}, d)),
        ("SIGTERM to exit, sampling 8 GPUs for 3 s (ms)",
         lambda b, d: time_to_stop(b, args.sim, {"gpus": gpus}, d, 3)),
        ("SIGTERM to exit, 20 s at 100 ms held for one final flush (ms)",
         lambda b, d: time_to_stop(b, args.sim, {"gpus": gpus}, d, 20,
                                   ("--interval", "100ms", "--flush-interval", "1m"))),
        ("SIGTERM to exit, 1 s into a 30 s nvmlInit (ms)",
         lambda b, d: time_to_stop(b, args.sim, {"init": {"delay_s": 30}, "gpus": gpus}, d, 1)),
    ]
    with tempfile.TemporaryDirectory(prefix="gpulse-bench-") as d:
        for name, fn in cases:
            medians = []
            for b in args.binaries:
                medians.append(statistics.median(fn(b, d) for _ in range(args.runs)))
            cells = ["%.0f" % m for m in medians]
            ratios = ["%.3g×" % (m / medians[0]) for m in medians[1:]] if medians[0] else []
            print("%-50s %s  %s" % (name, "  ".join(cells), " ".join(ratios)))


if __name__ == "__main__":
    main()
