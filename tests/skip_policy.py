"""The pytest suites' rule for skips: a test that cannot run fails the run.

pytest counts a skipped test as neither passed nor failed and exits 0, so a
suite whose tests all skipped for a missing capability (libzmq without
CURVE, say) would be as green as one that ran them. With this plugin any
skip (or xfail) makes the run fail, exit status 1, with one line per skip in
the summary, unless the run opts out with ALLOW_SKIP=1 in the environment:
then the skips stay visible as SKIPPED and the run may pass. tests/skip.h
and tests/distributed/run.sh follow the same rule.

One kind of skip is always allowed: a test that compares against a
third-party package which cannot be installed here (gymnasium) skips with a
reason that starts with THIRD_PARTY, and stays a visible pytest skip, never
a pass. The project asks for exactly that (README, Hardening).

Each suite's conftest.py calls register(config) from pytest_configure.
"""

from __future__ import annotations

import os

import pytest

# The reason of an allowed skip starts with this: pytest.skip(THIRD_PARTY + why).
THIRD_PARTY = "third-party package missing: "


def allowed() -> bool:
    return os.environ.get("ALLOW_SKIP") == "1"


def _reason(report) -> str:
    if hasattr(report, "wasxfail"):
        return f"xfail: {report.wasxfail}"
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: why")
        return str(longrepr[2])
    return str(longrepr)


class SkipPolicy:
    def __init__(self) -> None:
        self.refused: list[tuple[str, str]] = []

    def _note(self, report) -> None:
        if not report.skipped:
            return
        why = _reason(report)
        if not why.removeprefix("Skipped: ").startswith(THIRD_PARTY):
            self.refused.append((report.nodeid, why))

    def pytest_runtest_logreport(self, report) -> None:
        self._note(report)

    def pytest_collectreport(self, report) -> None:
        self._note(report)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.refused:
            return
        verdict = "allowed by ALLOW_SKIP=1" if allowed() else "the run fails (ALLOW_SKIP=1 allows them)"
        terminalreporter.section(f"{len(self.refused)} test(s) could not run here: {verdict}")
        for nodeid, why in self.refused:
            terminalreporter.line(f"SKIP: {nodeid}: {why}")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus) -> None:
        if self.refused and not allowed() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def register(config) -> None:
    """Install the policy once per session, whichever conftest asks first."""
    if not config.pluginmanager.has_plugin("skip_policy"):
        config.pluginmanager.register(SkipPolicy(), "skip_policy")
