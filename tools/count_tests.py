#!/usr/bin/env python3
"""Counts test cases in JUnit XML files (GoogleTest, Bazel and pytest write this format).

Usage: count_tests.py DIR_OR_FILE... [--targets-failed N]
Prints "passed failed skipped" for the XML found under the given paths. Used by tools/test
to print the closing `N passed, N failed` line: test cases, not Bazel targets.
"""
import os
import sys
import xml.etree.ElementTree as ET


def xml_files(paths):
    for path in paths:
        if os.path.isfile(path):
            yield path
            continue
        for root, _, files in os.walk(path, followlinks=True):
            for name in files:
                if name.endswith(".xml"):
                    yield os.path.join(root, name)


def count(path):
    passed = failed = skipped = 0
    try:
        tree = ET.parse(path)
    except (ET.ParseError, OSError):
        return 0, 1, 0  # An unreadable report is a failure, never silently nothing.
    for case in tree.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None or case.get("status") == "notrun" or \
                case.get("result") == "skipped":
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main(argv):
    totals = [0, 0, 0]
    for f in xml_files(argv[1:]):
        for i, n in enumerate(count(f)):
            totals[i] += n
    print(*totals)


if __name__ == "__main__":
    main(sys.argv)
