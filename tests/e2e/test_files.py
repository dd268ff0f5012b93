"""The agent's files as an attacker or an accident leaves them: a link or a
FIFO planted at the lock or the database is refused and its target left
alone; the files are made 0640 whatever the umask, with the configured
group; a database deleted or replaced under a running agent shows on
/health; a database with damaged pages in the middle is refused with
SQLite's words and never written; `agent --once` exits 1 when its sample
was not stored."""

import hashlib
import os
import sqlite3
import stat
import subprocess
import time
import unittest

from gpulse_e2e import GEN, GPULSE, Agent, run, write_scenario
from test_agent import AgentTest


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class PlantedFiles(AgentTest):
    """Links and other non-files where the agent's files go."""

    def once(self, *args, umask=None):
        p = self.agent("--once", *args, preexec_fn=(lambda: os.umask(umask))
                       if umask is not None else None)
        out, err = p.communicate(timeout=60)
        return p.returncode, err

    def test_link_at_the_lock_leaves_its_target_untouched(self):
        target = os.path.join(self.dir, "precious")
        with open(target, "w") as f:
            f.write("keep me\n")
        os.symlink(target, self.db + ".lock")
        rc, err = self.once()
        self.assertEqual(rc, 1, err)
        self.assertIn("refusing lock file '%s.lock': it is a symbolic link" % self.db, err)
        with open(target) as f:
            self.assertEqual(f.read(), "keep me\n")
        self.assertEqual(oct(os.stat(target).st_mode & 0o777), oct(0o644))
        self.assertFalse(os.path.exists(self.db))  # nothing created before the lock

    def test_link_at_the_database_or_its_wal_is_refused(self):
        target = os.path.join(self.dir, "elsewhere.db")
        rc, err = self.once()  # a real database to point at
        self.assertEqual(rc, 0, err)
        os.rename(self.db, target)
        before = digest(target)
        os.symlink(target, self.db)
        rc, err = self.once()
        self.assertEqual(rc, 1, err)
        self.assertIn("refusing database '%s': it is a symbolic link" % self.db, err)
        self.assertEqual(digest(target), before)
        # read-only commands refuse it too
        p = run(["history", "--database", self.db], None)
        self.assertEqual(p.returncode, 1)
        self.assertIn("symbolic link", p.stderr)
        os.unlink(self.db)
        os.rename(target, self.db)
        wal_target = os.path.join(self.dir, "wal-target")
        with open(wal_target, "w") as f:
            f.write("not a WAL\n")
        os.unlink(self.db + "-wal")  # the empty one a clean stop leaves
        os.symlink(wal_target, self.db + "-wal")
        rc, err = self.once()
        self.assertEqual(rc, 1, err)
        self.assertIn("refusing database WAL '%s-wal': it is a symbolic link" % self.db, err)
        with open(wal_target) as f:
            self.assertEqual(f.read(), "not a WAL\n")

    def test_hard_links_are_refused(self):
        # a hard link at the lock would have its target rewritten; one at
        # the database would let two agents write it under two names
        target = os.path.join(self.dir, "precious")
        with open(target, "w") as f:
            f.write("keep me\n")
        os.link(target, self.db + ".lock")
        rc, err = self.once()
        self.assertEqual(rc, 1, err)
        self.assertIn("refusing lock file '%s.lock': it has 2 hard links" % self.db, err)
        with open(target) as f:
            self.assertEqual(f.read(), "keep me\n")
        os.unlink(self.db + ".lock")
        rc, err = self.once()
        self.assertEqual(rc, 0, err)
        other = os.path.join(self.dir, "other.db")
        os.link(self.db, other)
        before = digest(self.db)
        for db in (self.db, other):
            rc, err = self.once("--database", db)
            self.assertEqual(rc, 1, err)
            self.assertIn("refusing database '%s': it has 2 hard links" % db, err)
        self.assertEqual(digest(self.db), before)

    def test_fifo_or_directory_is_refused_without_hanging(self):
        os.mkfifo(self.db + ".lock")
        rc, err = self.once()
        self.assertEqual(rc, 1, err)
        self.assertIn("refusing lock file '%s.lock': it is not a regular file" % self.db, err)
        # refused before the database was created or written
        self.assertFalse(os.path.exists(self.db))
        os.unlink(self.db + ".lock")
        os.mkdir(self.db)
        rc, err = self.once()
        self.assertEqual(rc, 1, err)
        self.assertIn("refusing database '%s': it is not a regular file" % self.db, err)

    def modes_while_running(self, umask, *args):
        """The modes and groups of the database, WAL, shm and lock while an
        agent started under umask writes."""
        p = self.agent("--interval", "100ms", "--flush-interval", "200ms", *args,
                       preexec_fn=lambda: os.umask(umask))
        try:
            names = [self.db, self.db + "-wal", self.db + "-shm", self.db + ".lock"]
            deadline = time.time() + 30
            while time.time() < deadline and not all(os.path.exists(n) for n in names):
                time.sleep(0.1)
            self.assertIsNone(p.poll(), p.stderr.read() if p.poll() is not None else "")
            return {os.path.basename(n): (stat.S_IMODE(os.stat(n).st_mode), os.stat(n).st_gid)
                    for n in names}
        finally:
            p.terminate()
            p.communicate(timeout=30)

    def test_files_are_0640_whatever_the_umask(self):
        for umask in (0o000, 0o022, 0o077):
            for name in os.listdir(self.dir):
                os.unlink(os.path.join(self.dir, name))
            modes = self.modes_while_running(umask)
            self.assertEqual({n: oct(m) for n, (m, g) in modes.items()},
                             {n: oct(0o640) for n in modes}, "umask %o" % umask)

    def test_database_group(self):
        if os.geteuid() != 0:
            self.skipTest("giving a file to another group needs root")
        gid = 4321 if os.getegid() != 4321 else 4322
        modes = self.modes_while_running(0o022, "--set", "database_group=%d" % gid)
        self.assertEqual({n: g for n, (m, g) in modes.items()}, {n: gid for n in modes})
        rc, err = self.once("--database", os.path.join(self.dir, "other.db"),
                            "--set", "database_group=no-such-group-here")
        self.assertEqual(rc, 1, err)
        self.assertIn("database_group 'no-such-group-here': no such group", err)

    def test_group_members_read_the_history_while_no_agent_runs(self):
        # A member of database_group reads the history in a directory it
        # may not write (as /var/lib/gpulse), with the agent stopped: the
        # WAL and shm SQLite needs are left in place, empty, by the stop.
        if os.geteuid() != 0:
            self.skipTest("running as another user needs root")
        os.chmod(self.dir, 0o755)
        rc, err = self.once("--set", "database_group=daemon")
        self.assertEqual(rc, 0, err)
        self.assertEqual(os.path.getsize(self.db + "-wal"), 0)
        for args in (["history", "--from", "-1h", "--format", "csv"], ["db", "info"]):
            p = subprocess.run(["setpriv", "--reuid=daemon", "--regid=daemon", "--init-groups",
                                GPULSE] + args + ["--database", self.db],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, (args, p.stderr))
        # and one who is not a member reads nothing
        p = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                            GPULSE, "history", "--database", self.db],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr)


class DeletedUnderTheAgent(unittest.TestCase):
    SCENARIO = {"gpus": [{"name": "Sim A"}]}

    def health_reports(self, a, change):
        a.wait_for(lambda: a.json("/health")["database"]["last_write"] is not None,
                   what="a first write")
        change(a.database)
        deadline = time.time() + 20
        health = None
        while time.time() < deadline:
            status, _, body = a.get("/health")
            health = __import__("json").loads(body)
            if status == 503 and "database" in health["failing"]:
                break
            time.sleep(0.2)
        self.assertIn("database", health["failing"], health)
        self.assertEqual(health["database"]["state"], "failing")
        self.assertIn("was deleted or replaced while the agent ran", health["database"]["error"])
        self.assertIn(a.database, health["database"]["error"])
        return health

    def test_deleted(self):
        def delete(db):
            for suffix in ("", "-wal", "-shm"):
                os.unlink(db + suffix)

        with Agent(self.SCENARIO, interval="200ms") as a:
            self.health_reports(a, delete)
            self.assertFalse(os.path.exists(a.database))  # not quietly made anew
        self.assertIn("was deleted or replaced while the agent ran", a.stderr)
        self.assertIn("keeping", a.stderr)  # the samples wait in memory

    def test_replaced(self):
        def replace(db):
            other = db + ".new"
            con = sqlite3.connect(other)
            con.execute("CREATE TABLE t (x)")
            con.close()
            before = digest(other)
            os.rename(other, db)
            replace.before = before

        with Agent(self.SCENARIO, interval="200ms") as a:
            self.health_reports(a, replace)
            self.assertEqual(digest(a.database), replace.before)  # the new file untouched


class DamagedDatabase(AgentTest):
    """Pages in the middle of a real database overwritten with junk."""

    def setUp(self):
        super().setUp()
        scenario = write_scenario({"gpus": [{"name": "Sim A", "metrics": {
            "utilization_gpu": {"pattern": "random_walk", "start": 50, "step": 10},
            "temperature_c": {"pattern": "random_walk", "start": 60, "step": 1}}}, {}]})
        self.addCleanup(os.unlink, scenario)
        to = int(time.time()) // 60 * 60
        p = subprocess.run([GEN, "--scenario", scenario, "--database", self.db, "--from",
                            str(to - 86400), "--to", str(to), "--interval", "5s",
                            "--timezone", "UTC"], capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        con = sqlite3.connect(self.db)
        try:
            pages = [r[0] for r in con.execute(
                "SELECT pageno FROM dbstat WHERE name = 'sample_blocks' AND pagetype = 'leaf'"
                " ORDER BY pageno")]
            self.page_size = con.execute("PRAGMA page_size").fetchone()[0]
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError as e:
            self.skipTest("SQLite without dbstat: %s" % e)
        finally:
            con.close()
        self.assertGreater(len(pages), 50)
        middle = len(pages) // 2
        with open(self.db, "r+b") as f:
            for page in pages[middle:middle + 3]:
                f.seek((page - 1) * self.page_size)
                f.write(bytes((i * 7 + 13) & 0xFF for i in range(self.page_size)))
        for suffix in ("-wal", "-shm"):
            if os.path.exists(self.db + suffix):
                os.unlink(self.db + suffix)
        self.before = digest(self.db)

    def test_refused_with_sqlites_words_and_never_written(self):
        rc = self.agent("--once")
        out, err = rc.communicate(timeout=60)
        self.assertEqual(rc.returncode, 1, err)
        self.assertIn("database '%s' is damaged (SQLite: " % self.db, err)
        self.assertIn("refusing to write to it", err)
        self.assertEqual(digest(self.db), self.before)
        for cmd in (["db", "rebuild"], ["db", "prune"]):
            p = run(cmd + ["--database", self.db], None)
            self.assertEqual(p.returncode, 1, (cmd, p.stderr))
            self.assertIn("is damaged (SQLite: ", p.stderr)
            self.assertEqual(digest(self.db), self.before, cmd)
        p = run(["db", "check", "--database", self.db], None)
        self.assertEqual(p.returncode, 1)
        self.assertIn("malformed", p.stderr)
        self.assertRegex(p.stderr, r"Page \d+: ")  # names the damage
        # a query that reads the damaged pages says so, never "not an error"
        for cmd in (["history", "--from", "-2d", "--points", "100000"],
                    ["db", "raw", os.path.join(self.dir, "raw.db")]):
            p = run(cmd + ["--database", self.db], None)
            self.assertEqual(p.returncode, 1, (cmd, p.stdout[-300:]))
            self.assertIn("database disk image is malformed", p.stderr)
            self.assertNotIn("not an error", p.stderr)
        self.assertEqual(digest(self.db), self.before)
        if os.path.exists(self.db + "-wal"):  # SQLite's reads may make an empty one
            self.assertEqual(os.path.getsize(self.db + "-wal"), 0)


class CleanStopMark(AgentTest):
    """A clean stop leaves a mark in the lock file that spares the next
    start the read of every page; a crash or any write to the file since
    takes it away, and the pages are checked again."""

    CHECKED = "checked page by page"

    def start_and_stop(self, kill=False):
        p = self.agent("--log-level", "debug", "--flush-interval", "1s")
        deadline = time.time() + 30
        while time.time() < deadline and not os.path.exists(self.db + "-wal"):
            time.sleep(0.1)
        time.sleep(1.5)  # a flush or two
        if kill:
            p.kill()
        else:
            p.terminate()
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, -9 if kill else 0, err)
        return err

    def lock_text(self):
        with open(self.db + ".lock") as f:
            return f.read()

    def test_mark_skips_the_check_until_the_file_changes(self):
        self.start_and_stop()
        self.assertTrue(self.lock_text().startswith("clean-stop "), self.lock_text())
        err = self.start_and_stop()
        self.assertIn("as the last clean stop left it", err)
        self.assertNotIn(self.CHECKED, err)
        # any write since the clean stop (here a row by another program)
        con = sqlite3.connect(self.db)
        con.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('x', 'y')")
        con.commit()
        con.close()
        err = self.start_and_stop()
        self.assertIn(self.CHECKED, err)
        # a crash leaves the PID, not the mark: the next start checks
        self.start_and_stop(kill=True)
        self.assertFalse(self.lock_text().startswith("clean-stop "), self.lock_text())
        err = self.start_and_stop()
        self.assertIn("no clean stop matches it", err)
        self.assertIn(self.CHECKED, err)

    def test_no_mark_after_a_run_whose_writes_failed(self):
        self.start_and_stop()
        p = self.agent("--log-level", "debug", "--flush-interval", "1s")
        time.sleep(1.5)
        # another writer holds the database past the busy timeout (5 s):
        # a flush fails, as one that met a damaged page would
        con = sqlite3.connect(self.db, timeout=0, isolation_level=None)
        con.execute("BEGIN IMMEDIATE")
        time.sleep(7)  # the busy timeout and a flush's failure
        con.execute("ROLLBACK")
        con.close()
        time.sleep(2)  # the next flush works again
        p.terminate()
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("retrying", err)  # the failed flush was logged
        self.assertFalse(self.lock_text().startswith("clean-stop "), self.lock_text())


class OnceNotStored(AgentTest):
    def test_once_exits_1_when_its_sample_is_not_stored(self):
        p = self.agent("--once")
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        # another writer holds the database past the busy timeout (5 s)
        con = sqlite3.connect(self.db, timeout=0, isolation_level=None)
        con.execute("BEGIN IMMEDIATE")
        try:
            p = self.agent("--once")
            out, err = p.communicate(timeout=60)
        finally:
            con.execute("ROLLBACK")
            con.close()
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("the sample was not stored", err)
        self.assertEqual(self.query("SELECT count(*) FROM samples"), [(2,)])  # the first run's


if __name__ == "__main__":
    unittest.main(verbosity=2)
