"""The configuration file as an operator meets it: `gpulse config` shows
what is in effect, both file layouts load, a bad key or value exits 2 and
names it, and `gpulse now` takes its NVML library from the file."""

import json
import os
import subprocess
import tempfile
import unittest

from gpulse_e2e import GPULSE, SIM_LIB, run


def config_file(text):
    fd, path = tempfile.mkstemp(prefix="gpulse-config-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


class ConfigCommand(unittest.TestCase):
    def file(self, obj_or_text):
        text = obj_or_text if isinstance(obj_or_text, str) else json.dumps(obj_or_text)
        path = config_file(text)
        self.addCleanup(os.unlink, path)
        return path

    def test_gpu_monitor_layout_is_understood(self):
        path = self.file({"collection": {"interval_seconds": 10, "aggregation_interval_hours": 2},
                          "database": {"file": "/srv/gm/data.db"},
                          "logging": {"level": "DEBUG", "file": "/var/log/gm.log"},
                          "server": {"url": "https://hub.example/api", "contract_number": "K-7"}})
        p = run(["config", "--config", path], None)
        self.assertEqual(p.returncode, 0, p.stderr)
        eff = json.loads(p.stdout)
        self.assertEqual(eff["interval"], "10s")
        self.assertEqual(eff["database"], "/srv/gm/data.db")
        self.assertEqual(eff["log"], {"level": "debug", "file": "/var/log/gm.log"})
        self.assertEqual(eff["hub"]["url"], "https://hub.example/api")
        self.assertEqual(eff["hub"]["contract_number"], "K-7")
        self.assertEqual(eff["hub"]["push_interval"], "2h")

    def test_set_overrides_the_file(self):
        path = self.file({"interval": "5s"})
        p = run(["config", "--config", path, "--set", "interval=250ms",
                 "--set", "retention.samples=forever"], None)
        self.assertEqual(p.returncode, 0, p.stderr)
        eff = json.loads(p.stdout)
        self.assertEqual(eff["interval"], "250ms")
        self.assertEqual(eff["retention"]["samples"], "forever")

    def test_bad_settings_exit_2_naming_the_key(self):
        cases = [
            ({"retention": {"samples": "a while"}}, "key 'retention.samples'"),
            ({"intervall": "1s"}, "unknown key 'intervall'"),
            ({"log": {"level": 3}}, "key 'log.level': must be a string"),
            ('{"interval": "1s",}', "line 1"),
        ]
        for content, message in cases:
            path = self.file(content)
            p = run(["config", "--config", path], None)
            self.assertEqual(p.returncode, 2, content)
            self.assertIn(message, p.stderr)
            self.assertIn(path, p.stderr)
            self.assertEqual(p.stdout, "")
        p = run(["config", "--config", "/nonexistent/gpulse.json"], None)
        self.assertEqual(p.returncode, 2)
        self.assertIn("'/nonexistent/gpulse.json'", p.stderr)
        p = run(["config", "--set", "interval"], None)
        self.assertEqual(p.returncode, 2)
        self.assertIn("is not KEY=VALUE", p.stderr)
        p = run(["config", "--set", "colour=blue"], None)
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown configuration key 'colour'", p.stderr)

    def test_empty_strings_exit_2_naming_the_key(self):
        """An empty string means nothing for any string key (an empty
        database path once sent every sample to a throw-away temporary
        database): refused from the file and from flags, naming the key."""
        d = tempfile.mkdtemp(prefix="gpulse-config-empty-")
        self.addCleanup(os.rmdir, d)
        db = os.path.join(d, "never.db")
        for key in ("database", "proc_root", "nvml_lib", "timezone", "log.file",
                    "database_group", "hub.url", "hub.contract_number"):
            section, _, leaf = key.rpartition(".")
            path = self.file({section: {leaf: ""}} if section else {key: ""})
            for cmd in (["config"], ["agent", "--once", "--database", db]):
                p = run(cmd + ["--config", path], {"gpus": [{}]})
                self.assertEqual(p.returncode, 2, (key, cmd, p.stderr))
                self.assertIn("key '%s'" % key, p.stderr)
            p = run(["agent", "--once", "--database", db, "--set", key + "="], {"gpus": [{}]})
            self.assertEqual(p.returncode, 2, (key, p.stderr))
            self.assertIn("key '%s'" % key, p.stderr)
        for flag, key in (("--database", "database"), ("--proc-root", "proc_root"),
                          ("--nvml-lib", "nvml_lib"), ("--log-file", "log.file")):
            p = run(["agent", "--once", "--database", db, flag, ""], {"gpus": [{}]})
            self.assertEqual(p.returncode, 2, (flag, p.stderr))
            self.assertIn("'%s'" % key, p.stderr)
        for cmd in (["history"], ["processes"], ["db", "info"]):
            p = run(cmd + ["--database", ""], None)
            self.assertEqual(p.returncode, 2, (cmd, p.stderr))
            self.assertIn("key 'database'", p.stderr)
        self.assertFalse(os.path.exists(db))

    def test_unset_keys_are_written_as_null_and_load_back(self):
        p = run(["config"], None)
        self.assertEqual(p.returncode, 0, p.stderr)
        eff = json.loads(p.stdout)
        self.assertIsNone(eff["timezone"])
        self.assertIsNone(eff["log"]["file"])
        path = self.file(p.stdout)
        q = run(["config", "--config", path], None)
        self.assertEqual(q.returncode, 0, q.stderr)
        self.assertEqual(json.loads(q.stdout), eff)

    def test_time_offsets_out_of_range_are_refused(self):
        for zone in ("+99:99", "UTC+99", "-13:00"):
            path = self.file({"timezone": zone})
            p = run(["config", "--config", path], None)
            self.assertEqual(p.returncode, 2, zone)
            self.assertIn("key 'timezone'", p.stderr)
        for t in ("2026-11-30T10:00+99:99", "2026-11-30T10:00+14:01", "2026-11-30T10:00-12:30",
                  "2026-11-30T10:00+05:60"):
            p = run(["history", "--database", "/nonexistent/g.db", "--from", t], None)
            self.assertEqual(p.returncode, 2, (t, p.stderr))
            self.assertIn(t, p.stderr)
        # the ends of the offsets in use are times like any other
        p = run(["history", "--database", "/nonexistent/g.db", "--from", "2026-11-30T10:00+14:00"],
                None)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("does not exist", p.stderr)


class NowUsesTheConfiguration(unittest.TestCase):
    def test_nvml_lib_from_the_file(self):
        path = config_file(json.dumps({"nvml_lib": SIM_LIB}))
        self.addCleanup(os.unlink, path)
        p = run(["now", "--config", path, "--format", "json"], {"gpus": [{}, {}]},
                lib="/nonexistent/env/libnvidia-ml.so.1")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(json.loads(p.stdout)["gpus"]), 2)

    def test_bad_file_stops_now_with_2(self):
        path = config_file('{"nvml_lib": 7}')
        self.addCleanup(os.unlink, path)
        p = run(["now", "--config", path], {"gpus": [{}]})
        self.assertEqual(p.returncode, 2)
        self.assertIn("key 'nvml_lib': must be a string", p.stderr)


class LocalConfigTrust(unittest.TestCase):
    """./config.json, read when no --config is named, names the library
    gpulse loads: one that someone else could have written is ignored."""

    def test_only_a_file_no_one_else_may_write_is_read(self):
        if os.path.exists("/etc/gpulse/config.json"):
            self.fail("/etc/gpulse/config.json exists here: it is read first")
        d = tempfile.mkdtemp(prefix="gpulse-cwd-")
        path = os.path.join(d, "config.json")
        with open(path, "w") as f:
            json.dump({"interval": "7s"}, f)
        try:
            for mode, read in ((0o600, True), (0o644, True), (0o664, False), (0o666, False)):
                os.chmod(path, mode)
                p = subprocess.run([GPULSE, "config"], cwd=d, capture_output=True, text=True,
                                   timeout=30)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual('"interval": "7s"' in p.stdout, read, (oct(mode), p.stdout))
                self.assertEqual("ignoring ./config.json" in p.stderr, not read, oct(mode))
        finally:
            os.unlink(path)
            os.rmdir(d)


if __name__ == "__main__":
    unittest.main(verbosity=2)
