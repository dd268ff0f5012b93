"""Real processes, started by the test under two users, attributed from
/proc: user, command, command line, start time, memory."""

import os
import pwd
import signal
import subprocess
import sys
import time
import unittest

from gpulse_e2e import MIB, now_json


def start(argv, user=None):
    """Starts argv, as user (a name) when given; returns the Popen."""
    pre = None
    if user:
        pw = pwd.getpwnam(user)

        def pre():
            os.setgid(pw.pw_gid)
            os.setgroups([])
            os.setuid(pw.pw_uid)
    return subprocess.Popen(argv, preexec_fn=pre, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


@unittest.skipUnless(os.geteuid() == 0, "needs root to start a process as another user")
class TwoUsers(unittest.TestCase):
    def setUp(self):
        self.t0 = time.time()
        self.mine = start(["sleep", "300"])
        self.theirs = start(["sleep", "301"], user="nobody")
        self.addCleanup(self.stop)

    def stop(self):
        for p in (self.mine, self.theirs):
            p.kill()
            p.wait()

    def test_user_command_memory(self):
        scenario = {"gpus": [
            # a GPU's only process is given the GPU's utilization
            {"metrics": {"utilization_gpu": 70},
             "processes": [{"pid": self.mine.pid, "memory_mib": 1500, "sm_pct": 20}]},
            {"processes": [{"pid": self.theirs.pid, "type": "graphics", "memory_mib": 300},
                           {"pid": 4194300, "memory_mib": 64}]},
        ]}
        doc = now_json(scenario, {"GPULSE_SIM_TIME": "30"})
        mine = doc["gpus"][0]["processes"][0]
        self.assertEqual(mine["pid"], self.mine.pid)
        self.assertEqual(mine["user"], pwd.getpwuid(os.geteuid()).pw_name)
        self.assertEqual(mine["uid"], os.geteuid())
        self.assertEqual(mine["command"], "sleep")
        self.assertEqual(mine["cmdline"], "sleep 300")
        self.assertEqual(mine["used_memory_bytes"], 1500 * MIB)
        self.assertEqual(mine["sm_pct"], 70)
        started = mine["start_time_ms"] / 1000.0
        self.assertLess(abs(started - self.t0), 5.0, "start time should be when we started it")

        on_gpu1 = {p["pid"]: p for p in doc["gpus"][1]["processes"]}
        theirs = on_gpu1[self.theirs.pid]
        self.assertEqual(theirs["user"], "nobody")
        self.assertEqual(theirs["uid"], pwd.getpwnam("nobody").pw_uid)
        self.assertEqual(theirs["cmdline"], "sleep 301")
        self.assertEqual(theirs["type"], "G")
        self.assertEqual(theirs["used_memory_bytes"], 300 * MIB)

        gone = on_gpu1[4194300]
        self.assertEqual(gone["pid"], 4194300)
        self.assertEqual(gone["used_memory_bytes"], 64 * MIB)
        self.assertIsNone(gone["user"])

    def test_reused_pid_is_recognisably_new(self):
        # Same PID, different start time: what identifies a process lifetime.
        scenario = {"gpus": [{"processes": [{"pid": self.mine.pid, "memory_mib": 1}]}]}
        first = now_json(scenario, {"GPULSE_SIM_TIME": "1"})["gpus"][0]["processes"][0]
        self.mine.kill()
        self.mine.wait()
        time.sleep(0.05)
        self.mine = start(["sleep", "302"])
        scenario["gpus"][0]["processes"][0]["pid"] = self.mine.pid
        second = now_json(scenario, {"GPULSE_SIM_TIME": "1"})["gpus"][0]["processes"][0]
        self.assertNotEqual((first["pid"], first["start_time_ms"]),
                            (second["pid"], second["start_time_ms"]))
        self.assertEqual(second["cmdline"], "sleep 302")


class Spawned:
    """A child started by posix_spawn, with Popen's kill() and wait()."""

    def __init__(self, argv):
        self.pid = os.posix_spawnp(argv[0], argv, os.environ)

    def kill(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def wait(self):
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def start_with_pid(pid, argv):
    """Starts argv with the given PID by setting the kernel's last PID (root
    only), retrying while other processes take it first; None if it cannot.
    posix_spawn execs at once: a forked copy of this test, seen by the agent
    before its exec, would be that lifetime's attribution (a lifetime is a
    PID and a start time, which exec keeps; a real GPU process has exec'd
    before it opens the GPU)."""
    for _ in range(200):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(pid - 1))
        p = Spawned(argv)
        if p.pid == pid:
            return p
        p.kill()
        p.wait()
    return None


@unittest.skipUnless(os.geteuid() == 0, "needs root to give a new process a chosen PID")
class AgentSeesPidReuse(unittest.TestCase):
    """A running agent keeps what it learnt about a process for its
    lifetime; when the process exits and a new one gets its PID, the agent
    shows the new one, not the old one's user, command and start time."""

    def test_new_process_with_the_same_pid(self):
        from gpulse_e2e import Agent
        first = start(["sleep", "300"])
        self.addCleanup(lambda: (first.kill(), first.wait()))
        pid = first.pid
        scenario = {"gpus": [{"processes": [{"pid": pid, "memory_mib": 1}]}]}

        def shown(a):
            procs = a.json("/api/v1/now")["gpus"][0]["processes"]
            return procs[0] if procs else None

        with Agent(scenario, interval="100ms") as a:
            before = a.wait_for(lambda: (p := shown(a)) and p["cmdline"] == "sleep 300" and p,
                                what="the first process")
            self.assertEqual(before["pid"], pid)
            first.kill()
            first.wait()
            time.sleep(0.05)  # a start time one clock tick later at least
            second = start_with_pid(pid, ["sleep", "301"])
            if second is None:
                self.skipTest("could not give a new process PID %d" % pid)
            self.addCleanup(lambda: (second.kill(), second.wait()))
            after = a.wait_for(lambda: (p := shown(a)) and p["cmdline"] == "sleep 301" and p,
                               what="the process that reused the PID")
        self.assertEqual(after["pid"], pid)
        self.assertEqual(after["command"], "sleep")
        self.assertGreater(after["start_time_ms"], before["start_time_ms"])


class HostileCommandLine(unittest.TestCase):
    """A process's arguments are whatever its owner chose: escape sequences,
    markup, bytes that are not UTF-8. They are shown as text, never obeyed."""

    def test_hostile_cmdline_is_text(self):
        argv0 = b"\x1b[2J<img src=x onerror=alert(1)>\xff"
        proc = subprocess.Popen(["bash", "-c", b'exec -a "$0" sleep 300'.decode(), argv0],
                                stdout=subprocess.DEVNULL)
        self.addCleanup(lambda: (proc.kill(), proc.wait()))
        time.sleep(0.1)
        scenario = {"gpus": [{"processes": [{"pid": proc.pid, "memory_mib": 1}]}]}
        doc = now_json(scenario, {"GPULSE_SIM_TIME": "5"})
        cmd = doc["gpus"][0]["processes"][0]["cmdline"]
        # one rule for every output: the escape defused in JSON as well
        self.assertEqual(cmd, "?[2J<img src=x onerror=alert(1)>\ufffd 300")
        from gpulse_e2e import run
        table = run(["now", "--color", "never"], scenario, {"GPULSE_SIM_TIME": "5"})
        self.assertEqual(table.returncode, 0, table.stderr)
        self.assertNotIn("\x1b", table.stdout)
        self.assertIn("?[2J<img src=x onerror=alert(1)>\ufffd 300", table.stdout)
        csv_out = run(["now", "--format", "csv", "--processes"], scenario,
                      {"GPULSE_SIM_TIME": "5"})
        self.assertIn('?[2J<img src=x onerror=alert(1)>\ufffd 300', csv_out.stdout)
        self.assertNotIn("\x1b", csv_out.stdout)


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    if result.skipped and not result.failures and not result.errors:
        sys.exit(77)  # ctest reports a skip, not a pass
    sys.exit(0 if result.wasSuccessful() else 1)
