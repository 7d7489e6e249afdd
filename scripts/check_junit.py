#!/usr/bin/env python3
"""Reads qverify's junit.xml files with junitparser (the JUnit reader CI report tools such as
publish-unit-test-result-action use; its xunit2 flavor follows the Jenkins xunit junit-10 schema)
and checks them against report.json: every suite and the root name the model, each error cause is
one failed testcase (consequences are its system-out, not failures), the counts add up.

Usage: check_junit.py REPORT_DIR...   (exit 1 on any problem)
"""
import json
import pathlib
import sys

from junitparser import xunit2
from junitparser.junitparser import Failure, Skipped


def check(d):
    d = pathlib.Path(d)
    report = json.loads((d / "report.json").read_text())
    xml = xunit2.JUnitXml.fromfile(str(d / "junit.xml"))
    model = "/".join(report["model"].split("/")[-2:])
    problems = []
    if model not in (xml.name or ""):
        problems.append(f"root name {xml.name!r} does not name the model {model!r}")
    suites = list(xml)
    tests = failures = 0
    causes_expected = 0
    for c in report["comparisons"]:
        def key(f):
            return f"{f['code']} @ {f['node']}" if f["node"] else f["code"]
        keys = {key(f) for f in c["findings"]}
        erring = {f["cause"] for f in c["findings"] if f["severity"] == "error" and f.get("cause") in keys}
        # A cause fails when it or a consequence is an error.
        causes_expected += sum(1 for f in c["findings"] if f.get("cause") not in keys and (f["severity"] == "error" or key(f) in erring))
    causes_expected += sum(1 for f in report["findings"] if f["severity"] == "error")
    for s in suites:
        if model not in s.name:
            problems.append(f"suite {s.name!r} does not name the model")
        cases = list(s)
        n_fail = sum(1 for tc in cases for r in tc.result if isinstance(r, Failure))
        n_skip = sum(1 for tc in cases for r in tc.result if isinstance(r, Skipped))
        if s.tests != len(cases) or s.failures != n_fail or (s.skipped or 0) != n_skip:
            problems.append(f"suite {s.name!r}: attributes tests={s.tests} failures={s.failures} skipped={s.skipped}, "
                            f"contents {len(cases)}/{n_fail}/{n_skip}")
        for tc in cases:
            if not tc.classname or model not in tc.classname:
                problems.append(f"testcase {tc.name!r}: classname {tc.classname!r} does not name the model")
        tests += len(cases)
        failures += n_fail
    if failures != causes_expected:
        problems.append(f"{failures} failed testcases, but report.json has {causes_expected} error causes")
    if xml.tests != tests or xml.failures != failures:
        problems.append(f"root tests={xml.tests} failures={xml.failures}, contents {tests}/{failures}")
    return problems, len(suites), tests, failures


def main():
    bad = 0
    for d in sys.argv[1:]:
        problems, s, t, f = check(d)
        print(("ok  " if not problems else "FAIL") + f" {d}/junit.xml: {s} suites, {t} testcases, {f} failed (one per cause)")
        for p in problems:
            print("     " + p)
        bad += bool(problems)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
