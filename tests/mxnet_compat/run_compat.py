#!/usr/bin/env python3
"""Runs MXNet 1.9.1's own Python unit tests (../shared/mxnet-tests, unmodified) against
mxgrid (`import mxnet` resolving to mxgrid through as_mxgrid/) or against real MXNet 1.9.1
(the venv's wheel), each test file in its own pytest process, and reports each test's
outcome. Both get nose_standin/ for the `nose.tools` the files import.

Usage: run_compat.py mxgrid|mxnet [--junit-dir DIR] [--json OUT] [--failures OUT] [-k EXPR]
                     [--timeout S] [--file-timeout S] [FILE ...]

The suite is found at $MXGRID_MXNET_TESTS, else ../shared/mxnet-tests beside the checkout,
else /work/shared/mxnet-tests; without it the script exits 3 after saying so. Tests run in a
scratch working directory (some write files), with a per-test timeout (--timeout, 180 s),
a per-file one (--file-timeout, 1200 s: the file is killed with every process it started,
servers included, and counts as failed) and no bytecode written into the suite's folders. Prints one line per file and a summary;
--json writes {"test_file.py::test_name": "passed" | "failed" | "skipped"}; --failures
writes 'test_file.py::test_name  reason' lines (the expected_failures.txt format).
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import signal
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
AS_MXGRID = os.path.join(HERE, "as_mxgrid")  # `import mxnet` -> mxgrid
NOSE = os.path.join(HERE, "nose_standin")     # nose.tools, which the files import
CLIENT = os.path.join(ROOT, "clients", "python")
# A whole file's limit: a per-test timeout cannot end a test stuck where Python's signal
# handler never runs.
FILE_TIMEOUT = 1200


def find_suite():
    candidates = [os.environ.get("MXGRID_MXNET_TESTS", ""),
                  os.path.join(ROOT, "..", "shared", "mxnet-tests"),
                  "/work/shared/mxnet-tests"]
    for path in candidates:
        if path and os.path.isdir(os.path.join(path, "unittest")):
            return os.path.normpath(path)
    return None


def _reason(element):
    """The first line of a failure's exception, e.g. "AttributeError: module 'mxgrid' has no
    attribute 'random'" (at most 200 characters)."""
    text = element.get("message") or element.text or ""
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    errors = [l[2:].strip() for l in (element.text or "").splitlines() if l.startswith("E ")]
    if element.get("message") == "collection failure":
        errors = errors[-1:]  # the import error, after its traceback
    line = errors[0] if errors else (lines[0] if lines else "failed")
    return line[:200]


def outcomes_of(junit_path, file_name, reasons=None):
    """{'file.py::test': outcome} from a pytest JUnit XML report; each failure's reason
    into `reasons` when given."""
    out = {}
    if not os.path.exists(junit_path):
        return out
    for case in ET.parse(junit_path).getroot().iter("testcase"):
        name = "%s::%s" % (file_name, case.get("name"))
        bad = case.find("failure")
        bad = bad if bad is not None else case.find("error")
        if bad is not None and bad.get("message") == "collection failure":
            name = file_name + "::<collection>"  # the file did not import
        if bad is not None:
            out[name] = "failed"
            if reasons is not None:
                reasons[name] = _reason(bad)
        elif case.find("skipped") is not None:
            out[name] = "skipped"
        else:
            out[name] = "passed"
    return out


_TAG = "MXGRID_COMPAT_RUN"


def _kill_tagged(tag):
    """SIGKILLs every process whose environment carries ``_TAG=tag``."""
    marker = ("%s=%s" % (_TAG, tag)).encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                if marker not in f.read().split(b"\0"):
                    continue
            os.kill(int(pid), signal.SIGKILL)
        except OSError:
            continue  # gone, or not ours to read


def run_file(impl, suite, path, junit_dir, timeout, keyword, reasons=None, deselect=(),
             file_timeout=FILE_TIMEOUT):
    """Runs one test file in a fresh pytest process; its outcomes (failures' reasons into
    `reasons`). A file that fails to import, or runs past `file_timeout` seconds (then it is
    killed with every process it started), reports '<file>::<collection>' failed."""
    file_name = os.path.basename(path)
    junit = os.path.join(junit_dir, "%s-%s.xml" % (impl, file_name[:-3]))
    paths = [NOSE, os.path.join(suite, "unittest"), os.path.join(suite, "common"),
             os.path.join(suite, "train")]
    if impl == "mxgrid":
        paths = [AS_MXGRID, CLIENT] + paths
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rN",
           "--timeout", str(timeout), "--junitxml", junit, "--rootdir", junit_dir,
           "-o", "junit_family=xunit1", path]
    if keyword:
        cmd += ["-k", keyword]
    for test in deselect:
        test_file, _, name = test.partition("::")
        if test_file == file_name:
            cmd += ["--deselect", "%s::%s" % (path, name)]
    # Every process the file starts (its pytest, the embedded cluster's servers in their own
    # sessions) inherits this tag, so that a file past its time is ended with all of them.
    tag = "%d-%s" % (os.getpid(), uuid.uuid4().hex)
    env[_TAG] = tag
    with tempfile.TemporaryDirectory(prefix="mxnet-compat-") as scratch:
        try:
            proc = subprocess.run(cmd, cwd=scratch, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, check=False,
                                  timeout=file_timeout)
        except subprocess.TimeoutExpired:
            name = file_name + "::<collection>"
            if reasons is not None:
                reasons[name] = ("the file ran past %d s (--file-timeout) and was killed"
                                 % file_timeout)
            return {name: "failed"}
        finally:
            _kill_tagged(tag)  # what a file past its time, or a test, left running
    found = outcomes_of(junit, file_name, reasons)
    if not found and proc.returncode not in (0, 5):  # no report: pytest itself failed
        found[file_name + "::<collection>"] = "failed"
        if reasons is not None:
            errors = [l[2:].strip() for l in proc.stdout.splitlines() if l.startswith("E ")]
            lines = [l.strip() for l in proc.stdout.splitlines() if l.strip()]
            # A signal (e.g. -11, a crash) shows as a negative code; the output's last line
            # says where it stopped.
            reasons[file_name + "::<collection>"] = (errors[-1] if errors else
                                                    "pytest exit %d after: %s" % (
                                                        proc.returncode,
                                                        lines[-1] if lines else "no output")
                                                    )[:300]
    return found


def run(impl, files=None, junit_dir=None, timeout=180, keyword=None, log=sys.stdout,
        reasons=None, deselect=(), file_timeout=FILE_TIMEOUT):
    """Runs the suite (or `files`) under `impl`, without the tests of `deselect`
    ('file.py::test' ids); {test: outcome}, or None without a suite. Failures' reasons go
    into `reasons` when given."""
    suite = find_suite()
    if suite is None:
        return None
    if not files:
        files = sorted(glob.glob(os.path.join(suite, "unittest", "test_*.py")))
    results = {}
    with tempfile.TemporaryDirectory(prefix="mxnet-compat-junit-") as tmp:
        for path in files:
            tic = time.time()
            found = run_file(impl, suite, os.path.abspath(path), junit_dir or tmp, timeout,
                             keyword, reasons, deselect, file_timeout)
            passed = sum(1 for v in found.values() if v == "passed")
            log.write("%s %-22s %3d of %3d passed (%.0f s)\n" % (
                impl, os.path.basename(path), passed, len(found), time.time() - tic))
            log.flush()
            results.update(found)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("impl", choices=["mxgrid", "mxnet"])
    parser.add_argument("files", nargs="*")
    parser.add_argument("--junit-dir")
    parser.add_argument("--json")
    parser.add_argument("--failures")
    parser.add_argument("--timeout", type=int, default=180)
    parser.add_argument("--file-timeout", type=int, default=FILE_TIMEOUT)
    parser.add_argument("-k", dest="keyword")
    args = parser.parse_args()
    reasons = {}
    results = run(args.impl, args.files, args.junit_dir, args.timeout, args.keyword,
                  reasons=reasons, file_timeout=args.file_timeout)
    if results is None:
        print("MXNet's unit tests not found (set MXGRID_MXNET_TESTS)")
        return 3
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
    if args.failures:
        with open(args.failures, "w") as f:
            for test in sorted(reasons):
                f.write("%s  %s\n" % (test, reasons[test]))
    passed = sum(1 for v in results.values() if v == "passed")
    print("%s: %d of %d MXNet 1.9.1 unit tests passed" % (args.impl, passed, len(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
