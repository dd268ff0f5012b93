"""Runs one end-to-end test module against the ThreadSanitizer build of the
agent (GPULSE_BIN names it) and fails when ThreadSanitizer reported
anything, in any gpulse process the tests started, even one whose test
passed (a report in a process the test then stopped, or in a command whose
exit status the test does not look at).

Usage: tsan.py TEST_MODULE.py [SUPPRESSIONS]

Every report goes to a file (TSAN_OPTIONS log_path), and halt_on_error
stops the process at the first one. SUPPRESSIONS, when given, is the file
of third-party races to ignore (none is needed today: see
tests/CMakeLists.txt).

The tests that measure time with tight margins are left out: ThreadSanitizer
makes gpulse several times slower to start and to run, so they would fail
for that alone, and the threads they exercise are exercised by the others
(TIMED below names each and why)."""

import glob
import importlib.util
import os
import shutil
import sys
import tempfile
import unittest

# test id suffix -> why it does not run under ThreadSanitizer
TIMED = {
    "Running.test_kill_9_loses_at_most_one_flush":
        "kills the agent 0.8 s after its start and expects a flush by then; under "
        "ThreadSanitizer the start alone can take longer",
    "Running.test_sample_count_matches_elapsed_time":
        "counts 30 +- 2 reads in 3 s at 100 ms with no gap over 0.2 s, and GPU time to "
        "one tick: ThreadSanitizer's slowdown moves ticks by that much",
    "Running.test_history_reads_back_what_was_stored":
        "expects 30 +- 4 % busy from a 1 s square wave read for 3 s from the start: the "
        "slower start leaves fewer whole periods in the window",
}


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    script = os.path.abspath(sys.argv[1])
    logs = tempfile.mkdtemp(prefix="gpulse-tsan-")
    options = ["halt_on_error=1", "second_deadlock_stack=1", "history_size=4",
               "log_path=" + os.path.join(logs, "tsan")]
    if len(sys.argv) > 2:
        options.append("suppressions=" + os.path.abspath(sys.argv[2]))
    os.environ["TSAN_OPTIONS"] = ":".join(options)

    sys.path.insert(0, os.path.dirname(script))
    spec = importlib.util.spec_from_file_location(
        os.path.splitext(os.path.basename(script))[0], script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    suite = unittest.TestSuite()

    def add(tests):
        for t in tests:
            if isinstance(t, unittest.TestSuite):
                add(t)
            elif not any(t.id().endswith(k) for k in TIMED):
                suite.addTest(t)
            else:
                print("left out under ThreadSanitizer: %s (%s)" % (t.id(), TIMED[
                    next(k for k in TIMED if t.id().endswith(k))]))

    add(unittest.defaultTestLoader.loadTestsFromModule(module))
    result = unittest.TextTestRunner(verbosity=2).run(suite)

    reports = sorted(glob.glob(os.path.join(logs, "tsan*")))
    for path in reports:
        with open(path, errors="replace") as f:
            sys.stderr.write("---- %s\n%s\n" % (os.path.basename(path), f.read()))
    shutil.rmtree(logs, ignore_errors=True)
    if reports:
        print("ThreadSanitizer reported in %d process(es)" % len(reports), file=sys.stderr)
        return 1
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
