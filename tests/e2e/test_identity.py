"""Who runs a process, and host text on its way out.

A process that exits while the driver still lists it keeps the user,
command and start time learnt from /proc (one lifetime, labels unchanged).
Under --proc-root, user names come from the host's passwd reached through
the root's PID 1, else the uid shows; usage is accounted by uid.

Text from the host (command lines, user and GPU names) reaches every output
through one rule: no escape sequence or BEL reaches a terminal through the
table, CSV, JSON or /metrics; CSV cells that a spreadsheet would evaluate
are neutralised; table columns line up in terminal columns for CJK and
emoji names."""

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
import unittest

from gpulse_e2e import FIXTURES, GPULSE, SIM_LIB, Agent, query_db, run, write_scenario

BTIME = 1795000000
CTRL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # every control but \t and \n


def display_cols(text):
    """Columns a terminal gives text: 2 for East Asian wide or fullwidth
    characters (emoji among them), 0 for combining marks."""
    cols = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        cols += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return cols


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def fake_proc(root, passwd, processes):
    """A /proc at root: boot time, the host's passwd at 1/root/etc/passwd
    (none when passwd is None), and processes {pid: (uid, comm, argv bytes,
    start_ticks)}."""
    write(os.path.join(root, "stat"), "cpu 1 2 3\nbtime %d\n" % BTIME)
    if passwd is not None:
        write(os.path.join(root, "1", "root", "etc", "passwd"), passwd)
    for pid, (uid, comm, argv, ticks) in processes.items():
        d = os.path.join(root, str(pid))
        write(os.path.join(d, "stat"),
              "%d (x) S 1 %d %d 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %d 1 1\n" % (pid, pid, pid, ticks))
        write(os.path.join(d, "status"), "Name:\tx\nUid:\t%d\t%d\t%d\t%d\n" % ((uid,) * 4))
        write(os.path.join(d, "comm"), comm.encode() + b"\n" if isinstance(comm, str)
              else comm + b"\n")
        write(os.path.join(d, "cmdline"), argv)
        write(os.path.join(d, "cgroup"), "0::/user.slice\n")


class TempDir(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gpulse-identity-")
        self.addCleanup(shutil.rmtree, self.dir, True)


class ExitedProcess(TempDir):
    def test_identity_outlives_the_proc_entry(self):
        proc = os.path.join(self.dir, "proc")
        shutil.copytree(FIXTURES + "/proc", proc)
        db = os.path.join(self.dir, "gpulse.db")
        scenario = {"gpus": [{"name": "Sim A",
                              "processes": [{"pid": 4242, "memory_mib": 512, "sm_pct": 40}]}]}
        series = re.compile(r'gpulse_process_memory_bytes\{pid="4242",user="([^"]*)",'
                            r'command="([^"]*)"')
        with Agent(scenario, args=["--proc-root", proc], database=db, interval="100ms") as a:
            def labels():
                return series.search(a.get("/metrics")[2].decode())
            m = a.wait_for(labels, what="the process's series")
            self.assertEqual(m.groups(), ("nobody", "python3"))
            # The process exits; the driver goes on listing it.
            shutil.rmtree(os.path.join(proc, "4242"))
            gone_ms = time.time() * 1000
            a.wait_for(lambda: a.json("/api/v1/now")["time_ms"] > gone_ms + 500,
                       what="ticks after the exit")
            self.assertEqual(labels().groups(), ("nobody", "python3"))
            p = a.json("/api/v1/now")["gpus"][0]["processes"][0]
            self.assertEqual((p["pid"], p["user"], p["uid"], p["command"]),
                             (4242, "nobody", 65534, "python3"))
            self.assertIsNotNone(p["start_time"])
        # one lifetime, charged to its user
        self.assertEqual(query_db(db, "SELECT pid, start_ticks, uid, user, command"
                                      " FROM processes"),
                         [(4242, 250000, 65534, "nobody", "python3")])


class HostUserDatabase(TempDir):
    SCENARIO = {"gpus": [{"name": "Sim A", "processes": [{"pid": 4242, "memory_mib": 8}]}]}

    def user_of_4242(self, proc):
        p = run(["now", "--format", "json", "--proc-root", proc], self.SCENARIO)
        self.assertEqual(p.returncode, 0, p.stderr)
        procs = json.loads(p.stdout)["gpus"][0]["processes"]
        return procs[0]["user"], procs[0]["uid"]

    def test_names_come_from_the_hosts_passwd(self):
        proc = os.path.join(self.dir, "proc")
        argv = b"python3\0train.py\0"
        # uid 0 is "root" here; the host calls it something else
        fake_proc(proc, "daemon:x:1:1::/:/bin/false\nhostadmin:x:0:0::/root:/bin/sh\n",
                  {4242: (0, "python3", argv, 250000)})
        self.assertEqual(self.user_of_4242(proc), ("hostadmin", 0))
        # the host's passwd out of reach: the uid, never our name for it
        os.unlink(os.path.join(proc, "1", "root", "etc", "passwd"))
        self.assertEqual(self.user_of_4242(proc), ("0", 0))

    def test_usage_is_accounted_by_uid(self):
        proc = os.path.join(self.dir, "proc")
        db = os.path.join(self.dir, "gpulse.db")
        argv = b"python3\0train.py\0"
        fake_proc(proc, "alice:x:4321:4321::/:/bin/sh\n", {4242: (4321, "python3", argv, 250000)})
        env = dict(os.environ, GPULSE_NVML_LIB=SIM_LIB, GPULSE_SIM_EPOCH=str(time.time() - 30))
        env.pop("GPULSE_SIM_TIME", None)
        scenario = write_scenario(self.SCENARIO)
        self.addCleanup(os.unlink, scenario)
        env["GPULSE_SIM_SCENARIO"] = scenario

        def once():
            p = subprocess.run([GPULSE, "agent", "--once", "--database", db, "--proc-root", proc,
                                "--listen", "127.0.0.1:0"], env=env, capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)

        once()
        # a second lifetime of the same uid, after the host renamed the user
        fake_proc(proc, "alice2:x:4321:4321::/:/bin/sh\n",
                  {4242: (4321, "python3", argv, 260000)})
        once()
        self.assertEqual(query_db(db, "SELECT uid, user FROM processes ORDER BY start_ticks"),
                         [(4321, "alice"), (4321, "alice2")])
        # a uid finds every lifetime of its user, whatever each was called
        listed = run(["processes", "--database", db, "--since", "-1h", "--user", "4321",
                      "--format", "json"])
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertEqual(sorted(p["user"] for p in json.loads(listed.stdout)["processes"]),
                         ["alice", "alice2"])
        with Agent(self.SCENARIO, args=["--proc-root", proc], database=db) as a:
            users = a.json("/api/v1/users")["users"]
        self.assertEqual([(u["user"], u["processes"]) for u in users], [("alice2", 2)])


# Host text as hostile as it gets: an escape sequence that recolours (or
# retitles) a terminal, BEL, a spreadsheet formula, CJK and emoji names.
CMD_FORMULA = b"=cmd|' /C calc'!A0\0--title\0\x1b]0;pwn\x07\0"
HOSTILE = {
    5001: (4001, b"\x1b[31mred\x07", CMD_FORMULA, 300000),
    5002: (4002, "训练🚀", b"python3\0train.py\0", 300100),
    5003: (4003, "+sum", b"@SUM(A1:A9)\0", 300200),
}
PASSWD = ("数据用户:x:4001:4001::/:/bin/sh\n"
          "bob:x:4002:4002::/:/bin/sh\n"
          "e\u0301mile:x:4003:4003::/:/bin/sh\n")
HOSTILE_SCENARIO = {"driver_version": "=1+1\u001b]0;x\u0007", "gpus": [
    {"name": "Sim 中文\u001b[5m", "processes": [{"pid": 5001, "memory_mib": 64},
                                               {"pid": 5002, "memory_mib": 32}]},
    {"name": "Sim Plain", "processes": [{"pid": 5003, "memory_mib": 16}]},
]}


class HostileText(TempDir):
    def setUp(self):
        super().setUp()
        self.proc = os.path.join(self.dir, "proc")
        fake_proc(self.proc, PASSWD, HOSTILE)

    def now(self, *args):
        p = run(["now", "--proc-root", self.proc] + list(args), HOSTILE_SCENARIO,
                {"GPULSE_SIM_TIME": "5"})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIsNone(CTRL.search(p.stdout), "a control character in %r" % p.stdout)
        return p.stdout

    def test_table_is_inert_and_aligned(self):
        out = self.now("--color", "never")
        gpu_lines = [l for l in out.splitlines() if re.match(r"\[\d\] ", l)]
        self.assertEqual(len(gpu_lines), 2)
        self.assertIn("Sim 中文?[5m", gpu_lines[0])
        # the first " | " after the name, in the same column on each line
        bars = {display_cols(l[:l.index(" | ")]) for l in gpu_lines}
        self.assertEqual(len(bars), 1, gpu_lines)
        proc_lines = [l for l in out.splitlines() if re.match(r"\s+50\d\d ", l)]
        self.assertEqual(len(proc_lines), 3)
        for user in ("数据用户", "bob", "e\u0301mile"):
            self.assertTrue(any(user in l for l in proc_lines), user)
        # what follows the user name starts in the same column on each line
        sm = {display_cols(l[:l.index("  SM ")]) for l in proc_lines}
        self.assertEqual(len(sm), 1, proc_lines)
        self.assertIn("=cmd|' /C calc'!A0 --title ?]0;pwn?", out)

    def test_csv_is_inert(self):
        rows = list(csv.DictReader(io.StringIO(self.now("--format", "csv", "--processes"),
                                               newline="")))
        by_pid = {int(r["pid"]): r for r in rows}
        self.assertEqual(by_pid[5001]["cmdline"], "'=cmd|' /C calc'!A0 --title ?]0;pwn?")
        self.assertEqual(by_pid[5001]["command"], "?[31mred?")
        self.assertEqual(by_pid[5001]["user"], "数据用户")
        self.assertEqual(by_pid[5002]["command"], "训练🚀")
        self.assertEqual(by_pid[5003]["command"], "'+sum")
        self.assertEqual(by_pid[5003]["cmdline"], "'@SUM(A1:A9)")
        for r in rows:
            for v in r.values():
                self.assertFalse(v[:1] in ("=", "+", "-", "@"), r)
        gpus = list(csv.DictReader(io.StringIO(self.now("--format", "csv"), newline="")))
        self.assertEqual(gpus[0]["name"], "Sim 中文?[5m")

    def test_json_is_inert(self):
        doc = json.loads(self.now("--format", "json"))
        self.assertIsNone(CTRL.search(json.dumps(doc, ensure_ascii=False)))
        procs = {p["pid"]: p for g in doc["gpus"] for p in g["processes"]}
        self.assertEqual(procs[5001]["command"], "?[31mred?")
        self.assertEqual(procs[5001]["cmdline"], "=cmd|' /C calc'!A0 --title ?]0;pwn?")
        self.assertEqual(procs[5002]["user"], "bob")
        self.assertEqual(doc["gpus"][0]["name"], "Sim 中文?[5m")

    def test_stored_processes_are_inert_and_aligned(self):
        db = os.path.join(self.dir, "gpulse.db")
        scenario = write_scenario(HOSTILE_SCENARIO)
        self.addCleanup(os.unlink, scenario)
        env = dict(os.environ, GPULSE_NVML_LIB=SIM_LIB, GPULSE_SIM_SCENARIO=scenario)
        env.pop("GPULSE_SIM_TIME", None)
        p = subprocess.run([GPULSE, "agent", "--once", "--database", db, "--proc-root",
                            self.proc, "--listen", "127.0.0.1:0"], env=env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        table = run(["processes", "--database", db, "--since", "-1h"])
        self.assertEqual(table.returncode, 0, table.stderr)
        self.assertIsNone(CTRL.search(table.stdout))
        lines = [l for l in table.stdout.splitlines() if re.match(r"\d+\s+50\d\d ", l)]
        self.assertEqual(len(lines), 3, table.stdout)
        self.assertTrue(any("数据用户" in l and "训练🚀" not in l for l in lines))
        self.assertTrue(any("训练🚀" in l for l in lines))
        # FIRST SEEN (a date) starts in the same column on every line
        first = {display_cols(l[:re.search(r"\d{4}-\d\d-\d\d ", l).start()]) for l in lines}
        self.assertEqual(len(first), 1, lines)
        out = run(["processes", "--database", db, "--since", "-1h", "--format", "csv"])
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIsNone(CTRL.search(out.stdout))
        rows = {int(r["pid"]): r for r in csv.DictReader(io.StringIO(out.stdout, newline=""))}
        self.assertEqual(rows[5001]["cmdline"], "'=cmd|' /C calc'!A0 --title ?]0;pwn?")
        self.assertEqual(rows[5003]["command"], "'+sum")
        # the stored host facts (driver version) too
        info = run(["db", "info", "--database", db])
        self.assertEqual(info.returncode, 0, info.stderr)
        self.assertIsNone(CTRL.search(info.stdout))
        self.assertIn("=1+1?]0;x?", info.stdout)

    def test_metrics_and_svg_are_inert(self):
        with Agent(HOSTILE_SCENARIO, args=["--proc-root", self.proc]) as a:
            body = a.wait_for(lambda: (b := a.get("/metrics")[2].decode()) and 'pid="5001"' in b
                              and b, what="the processes' series")
            svg = a.get("/gpu-activity.svg")[2].decode()
        self.assertIsNone(CTRL.search(body))
        self.assertIn('pid="5001",user="数据用户",command="?[31mred?"', body)
        self.assertIn('pid="5002",user="bob",command="训练🚀"', body)
        self.assertIsNone(CTRL.search(svg))


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    sys.exit(0 if result.wasSuccessful() else 1)
