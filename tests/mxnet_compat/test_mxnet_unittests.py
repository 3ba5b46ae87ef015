"""MXNet 1.9.1's own Python unit tests (../shared/mxnet-tests, unmodified), run by
run_compat.py against mxgrid (the embedded cluster) and against real MXNet 1.9.1.

The suite is the tests real MXNet passes here (mxnet_passing.txt; mxnet_failing.txt lists
the others, deselected from both runs, with the reason). Against mxgrid, each
either passes or is listed in expected_failures.txt with the reason; this test fails when a
test outside the list fails and when a listed one starts to pass (delete its line: the list
only shrinks). Against MXNet, every test of mxnet_passing.txt must still pass (the reference
is the reference). Both counts are printed.

Real MXNet's run is the reference, and its outcome is a function of its inputs alone: the
suite's files, the two lists, this folder's runner and the installed mxnet package. A passing
run is recorded under ~/.cache/mxgrid-compat/ keyed by a digest of all of them, and a later
run with the same digest reuses it (MXGRID_COMPAT_NO_CACHE=1 runs it regardless); any change
to an input runs MXNet again.
"""
import glob
import hashlib
import json
import os
import sys

import pytest

import run_compat

HERE = os.path.dirname(os.path.abspath(__file__))
SUITE = run_compat.find_suite()

pytestmark = [
    pytest.mark.skipif(
        SUITE is None, reason="MXNet's unit tests not found: ../shared/mxnet-tests beside the "
        "checkout, or set MXGRID_MXNET_TESTS"),
    # A whole run of the suite (minutes; each file is limited by run_compat's file timeout).
    pytest.mark.timeout(3600),
]


def _read_list(name):
    """{test id: reason} of a list file: 'file.py::test  reason' lines, '#' comments."""
    out = {}
    with open(os.path.join(HERE, name)) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                test, _, reason = line.partition(" ")
                out[test] = reason.strip()
    return out


class _Progress:
    """Where the runs report each file as it finishes: the terminal, past pytest's capture
    (``capsys.disabled()``), so that a log shows where the minutes go while the run goes."""

    def __init__(self, capsys):
        self._capsys = capsys

    def write(self, text):
        with self._capsys.disabled():
            sys.stderr.write(text)
            sys.stderr.flush()

    def flush(self):
        pass


def _outcome(results, test):
    """A test's outcome; a test of a file that failed to import counts as failed."""
    if test in results:
        return results[test]
    file_name = test.split("::")[0]
    if results.get(file_name + "::<collection>") == "failed":
        return "failed"
    return "missing"


def _reason(reasons, test):
    """Why `test` failed: its own reason, or its file's (an import error, a file killed past
    its time, a pytest that crashed without a report)."""
    return reasons.get(test) or reasons.get(test.split("::")[0] + "::<collection>", "")


def test_mxgrid_passes_mxnets_unit_tests_but_the_listed_ones(capsys):
    suite = _read_list("mxnet_passing.txt")
    expected = _read_list("expected_failures.txt")
    reasons = {}
    results = run_compat.run("mxgrid", reasons=reasons, log=_Progress(capsys),
                             deselect=_read_list("mxnet_failing.txt"))
    outcomes = {t: _outcome(results, t) for t in suite}
    passed = sorted(t for t, o in outcomes.items() if o == "passed")
    print("\nmxgrid passes %d of the %d MXNet 1.9.1 unit tests that MXNet passes"
          % (len(passed), len(suite)))
    new_failures = ["%s: %s (%s)" % (t, o, _reason(reasons, t))
                    for t, o in sorted(outcomes.items()) if o != "passed" and t not in expected]
    new_passes = [t for t in passed if t in expected]
    unknown = sorted(set(expected) - set(suite))
    assert not new_failures, "failing and not in expected_failures.txt:\n" + "\n".join(
        new_failures)
    assert not new_passes, ("passing now: delete from expected_failures.txt:\n"
                            + "\n".join(new_passes))
    assert not unknown, "expected_failures.txt lists tests not in the suite:\n" + "\n".join(
        unknown)


def _reference_digest():
    """Digest of everything real MXNet's run depends on (see the module docstring)."""
    h = hashlib.sha256()
    paths = sorted(glob.glob(os.path.join(SUITE, "**", "*.py"), recursive=True))
    paths += [os.path.join(HERE, n) for n in ("mxnet_passing.txt", "mxnet_failing.txt",
                                               "run_compat.py", "test_mxnet_unittests.py")]
    paths += sorted(glob.glob(os.path.join(HERE, "nose_standin", "**", "*.py"), recursive=True))
    for path in paths:
        h.update(os.path.relpath(path, SUITE if path.startswith(SUITE) else HERE).encode())
        with open(path, "rb") as f:
            h.update(f.read())
    try:
        from importlib import metadata
        h.update(("mxnet " + metadata.version("mxnet")).encode())
    except Exception:  # noqa: BLE001 - no installed mxnet: the run itself will say so
        h.update(b"mxnet missing")
    return h.hexdigest()


def test_real_mxnet_passes_the_suite(capsys):
    suite = _read_list("mxnet_passing.txt")
    cache_dir = os.path.join(os.path.expanduser("~"), ".cache", "mxgrid-compat")
    record = os.path.join(cache_dir, "mxnet-%s.json" % _reference_digest())
    if os.environ.get("MXGRID_COMPAT_NO_CACHE") != "1" and os.path.exists(record):
        with open(record) as f:
            cached = json.load(f)
        if cached.get("passed") == len(suite):
            print("\nMXNet 1.9.1 passes %d of %d (recorded run %s, same inputs)"
                  % (len(suite), len(suite), os.path.basename(record)))
            return
    reasons = {}
    log = _Progress(capsys)
    deselect = _read_list("mxnet_failing.txt")
    results = run_compat.run("mxnet", reasons=reasons, log=log, deselect=deselect)
    # A file that ended as a whole (MXNet's process crashed, or ran past its time) runs once
    # more: the reference is MXNet's behaviour, not the stability of its process here. Both
    # outcomes are printed.
    whole = sorted(t.split("::")[0] for t, o in results.items()
                   if t.endswith("::<collection>") and o == "failed")
    for name in whole:
        log.write("mxnet %s failed as a whole (%s); running it again\n"
                  % (name, reasons.get(name + "::<collection>", "")))
        retry_reasons = {}
        again = run_compat.run("mxnet", files=[os.path.join(SUITE, "unittest", name)],
                               reasons=retry_reasons, log=log, deselect=deselect)
        if again and not any(t.endswith("::<collection>") for t in again):
            del results[name + "::<collection>"]
            results.update(again)
            reasons.update(retry_reasons)
    failing = ["%s: %s (%s)" % (t, _outcome(results, t), _reason(reasons, t))
               for t in sorted(suite) if _outcome(results, t) != "passed"]
    print("\nMXNet 1.9.1 passes %d of %d" % (len(suite) - len(failing), len(suite)))
    assert not failing, "real MXNet 1.9.1 fails:\n" + "\n".join(failing)
    os.makedirs(cache_dir, exist_ok=True)
    with open(record + ".tmp", "w") as f:
        json.dump({"passed": len(suite)}, f)
    os.replace(record + ".tmp", record)
