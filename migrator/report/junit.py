"""A rehearsal as JUnit XML: one test case per check, a failure with its message, so that any CI's
test view shows which check failed. Written with the standard library's ElementTree."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from migrator.rehearse.result import Rehearsal


def render_junit(rehearsal: Rehearsal) -> str:
    failures = len(rehearsal.failures)
    seconds = f"{rehearsal.timings.get('total', 0.0):.3f}"
    suites = ET.Element(
        "testsuites", name="migrator rehearse", tests=str(len(rehearsal.checks)), failures=str(failures)
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"rehearsal {rehearsal.plan}",
        tests=str(len(rehearsal.checks)),
        failures=str(failures),
        errors="0",
        skipped="0",
        time=seconds,
    )
    for check in rehearsal.checks:
        case = ET.SubElement(suite, "testcase", name=check.name, classname=f"{rehearsal.plan}.{check.part}", time="0")
        if check.ok:
            ET.SubElement(case, "system-out").text = check.detail
        else:
            failure = ET.SubElement(case, "failure", message=check.detail[:1000], type="RehearsalCheckFailed")
            failure.text = check.detail
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
