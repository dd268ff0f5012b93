"""What a one-shot gpulse command costs from exec to exit: wall time, CPU
(user + system, from wait4) and peak RSS, medians over interleaved runs of
each variant, each against the first variant of the same run. Peak RSS is
measured in separate runs under /usr/bin/time: a child's ru_maxrss counts
the memory of the Python process it was forked from.

usage: startup.py RUNS LABEL=BINARY[,ENV=VALUE...] ... -- ARGS [-- ARGS ...]
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time


def parse(argv):
    runs = int(argv[0])
    rest = argv[1:]
    split = rest.index("--")
    variants = []
    for spec in rest[:split]:
        label, _, value = spec.partition("=")
        binary, *envs = value.split(",")
        env = dict(os.environ)
        env.update(e.split("=", 1) for e in envs)
        variants.append((label, binary, env))
    commands, cur = [], []
    for a in rest[split + 1:] + ["--"]:
        if a == "--":
            commands.append(cur)
            cur = []
        else:
            cur.append(a)
    return runs, variants, [c for c in commands if c]


def one(binary, args, env):
    """Runs once; returns (wall ms, CPU ms, peak RSS KiB)."""
    t0 = time.perf_counter()
    p = subprocess.Popen([binary] + args, env=env, stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = (time.perf_counter() - t0) * 1000
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("%s %s failed (%d)" % (binary, " ".join(args), status))
    with tempfile.NamedTemporaryFile("r") as out:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, binary] + args, env=env,
                       stdout=subprocess.DEVNULL, check=True)
        rss = int(out.read().split()[-1])
    return wall, (ru.ru_utime + ru.ru_stime) * 1000, rss


def main():
    runs, variants, commands = parse(sys.argv[1:])
    for args in commands:
        print("== gpulse %s: %d runs each, interleaved (medians)" % (" ".join(args), runs))
        samples = {label: [] for label, _, _ in variants}
        for label, binary, env in variants:  # warm the page cache first
            one(binary, args, env)
        for _ in range(runs):
            for label, binary, env in variants:
                samples[label].append(one(binary, args, env))
        base = None
        for label, _, _ in variants:
            wall, cpu, rss = (statistics.median(s[i] for s in samples[label]) for i in range(3))
            if base is None:
                base = (wall, cpu, rss)
                ratio = "(baseline)"
            else:
                ratio = "%.2fx wall, %.2fx CPU, %+.0f KiB vs baseline" % (
                    wall / base[0], cpu / base[1], rss - base[2])
            print("  %-44s wall %6.2f ms  CPU %6.2f ms  peak RSS %6.0f KiB  %s"
                  % (label, wall, cpu, rss, ratio))


main()
