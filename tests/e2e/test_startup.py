"""What a gpulse process loads: a command that never serves HTTP (`gpulse
--version`, `gpulse now`, `agent --once`, the agent with `--listen off`)
does not load libmicrohttpd nor the TLS stack it links, whose libraries
run their constructors at load time; the agent loads it when it serves."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from gpulse_e2e import GPULSE, SIM_LIB, Agent, run

SCENARIO = {"gpus": [{"name": "Sim A", "processes": [{"pid": 4242, "memory_mib": 512}]}]}

# libmicrohttpd and what it brings with it on Debian 12 (ldd of
# libmicrohttpd.so.12): GnuTLS and the libraries GnuTLS links. GnuTLS's
# libunistring is not in the list: gpulse links it itself, to measure text
# in terminal columns (util/text.c), and every command may print a table.
HTTP_STACK = ("libmicrohttpd", "libgnutls", "libnettle", "libhogweed", "libgmp", "libp11-kit",
              "libtasn1", "libidn2")


def stack_in(names):
    return sorted(n for n in names if os.path.basename(n).startswith(HTTP_STACK))


def loaded_by(args, **kw):
    """The shared objects the dynamic loader loaded for `gpulse args`
    (LD_DEBUG=libs: each one it maps and each one whose constructors run)."""
    p = run(args, SCENARIO, env={"LD_DEBUG": "libs"}, **kw)
    if p.returncode != 0:
        raise AssertionError("gpulse %s failed (%d): %s" % (args, p.returncode, p.stderr[-2000:]))
    names = set(re.findall(r"calling init: (\S+)", p.stderr))
    names |= set(re.findall(r"file=(\S+) +\[\d+\]", p.stderr))
    return names


def mapped(pid):
    with open("/proc/%d/maps" % pid) as f:
        return {line.split()[-1] for line in f if "/" in line}


class OneShotCommands(unittest.TestCase):
    def test_binary_does_not_link_the_http_stack(self):
        ldd = shutil.which("ldd")
        if not ldd:
            self.skipTest("no ldd")
        out = subprocess.run([ldd, GPULSE], capture_output=True, text=True, check=True).stdout
        self.assertIn("libc.so", out)
        self.assertEqual(stack_in(out.split()), [])

    def test_version_and_help_load_no_http_stack(self):
        for args in (["--version"], ["--help"]):
            names = loaded_by(args)
            self.assertTrue(any("libc.so" in n for n in names), names)  # LD_DEBUG worked
            self.assertEqual(stack_in(names), [], args)

    def test_now_loads_no_http_stack(self):
        for fmt in ("json", "table"):
            names = loaded_by(["now", "--format", fmt])
            self.assertIn(SIM_LIB, names)
            self.assertEqual(stack_in(names), [], fmt)

    def test_agent_once_loads_no_http_stack(self):
        d = tempfile.mkdtemp(prefix="gpulse-startup-")
        self.addCleanup(shutil.rmtree, d, True)
        names = loaded_by(["agent", "--once", "--database", os.path.join(d, "g.db")])
        self.assertIn(SIM_LIB, names)
        self.assertEqual(stack_in(names), [])


class AgentServing(unittest.TestCase):
    def test_serving_agent_loads_libmicrohttpd(self):
        with Agent(SCENARIO) as a:
            self.assertEqual(a.get("/health")[0], 200)
            libs = stack_in(mapped(a.proc.pid))
            self.assertTrue(any("libmicrohttpd.so" in n for n in libs), libs)

    def test_agent_without_http_does_not_load_it(self):
        d = tempfile.mkdtemp(prefix="gpulse-startup-")
        self.addCleanup(shutil.rmtree, d, True)
        db = os.path.join(d, "g.db")
        env = dict(os.environ, GPULSE_NVML_LIB=SIM_LIB)
        env["GPULSE_SIM_SCENARIO"] = os.path.join(d, "s.json")
        with open(env["GPULSE_SIM_SCENARIO"], "w") as f:
            json.dump(SCENARIO, f)
        p = subprocess.Popen([GPULSE, "agent", "--database", db, "--interval", "100ms",
                              "--flush-interval", "1s", "--listen", "off"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            # The server would start before the first sample is stored.
            deadline = time.time() + 20
            stored = 0
            while time.time() < deadline and not stored and p.poll() is None:
                time.sleep(0.2)
                h = run(["history", "--database", db, "--format", "json"])
                if h.returncode == 0:
                    stored = sum(len(s["t_ms"]) for s in json.loads(h.stdout)["series"])
            self.assertGreater(stored, 0, "the agent stored nothing")
            names = mapped(p.pid)
            self.assertIn(SIM_LIB, names)
            self.assertEqual(stack_in(names), [])
        finally:
            p.terminate()
            p.wait(timeout=20)
            p.stderr.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
