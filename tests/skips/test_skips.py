"""The skip rule, end to end: a test that cannot run here fails the run
unless ALLOW_SKIP=1 is set (tests/skip_policy.py, tests/skip.h,
tests/distributed/run.sh).

Each case runs a real suite where it really cannot run and checks its exit
status twice: without ALLOW_SKIP it must fail and say why, with
ALLOW_SKIP=1 it must pass and print a SKIP line.

- The pytest suites (tests/python, tests/conformance, tests/faults): a
  plugin given with -p marks the first collected test skipped, as a skipif
  for a missing capability does; each suite's own conftest.py applies the
  rule. A skip for a missing third-party package passes either way.
- check_discovery's mount-namespace case, the multi-host test and the
  netem rig (tests/netem/run.sh), run as an unprivileged user (nobody,
  through setpriv, when this runs as root): the kernel refuses
  unshare(CLONE_NEWNS) and `ip netns add` there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = os.environ.get("TEST_BUILD", "build")
TIMEOUT = 120

sys.path.insert(0, str(REPO / "tests"))
import skip_policy  # noqa: E402

FORCE_SKIP = '''
import os
import pytest

def pytest_collection_modifyitems(config, items):
    del items[1:]
    items[0].add_marker(pytest.mark.skip(reason=os.environ["FORCE_SKIP_REASON"]))
'''


def run(argv, allow_skip: bool, **env) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if k != "ALLOW_SKIP"}
    if allow_skip:
        e["ALLOW_SKIP"] = "1"
    e.update(env)
    return subprocess.run(argv, cwd=REPO, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=TIMEOUT)


def unprivileged() -> list[str]:
    """The command prefix that runs a program without root's capabilities."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def forced_skip(tmp_path: Path, suite: str, reason: str, allow_skip: bool):
    (tmp_path / "force_skip.py").write_text(FORCE_SKIP)
    return run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                "-p", "force_skip", f"tests/{suite}"], allow_skip,
               PYTHONPATH=str(tmp_path), FORCE_SKIP_REASON=reason)


@pytest.mark.parametrize("suite", ["python", "conformance", "faults"])
def test_a_skip_fails_a_pytest_suite_unless_allow_skip(tmp_path, suite):
    reason = "simulated: libzmq without CURVE"
    r = forced_skip(tmp_path, suite, reason, allow_skip=False)
    assert r.returncode == 1, r.stdout
    assert "could not run here: the run fails" in r.stdout, r.stdout
    assert reason in r.stdout, r.stdout

    r = forced_skip(tmp_path, suite, reason, allow_skip=True)
    assert r.returncode == 0, r.stdout
    assert "SKIPPED" in r.stdout and "allowed by ALLOW_SKIP=1" in r.stdout, r.stdout


def test_a_third_party_skip_passes_without_allow_skip(tmp_path):
    r = forced_skip(tmp_path, "python", skip_policy.THIRD_PARTY + "simulated", allow_skip=False)
    assert r.returncode == 0, r.stdout
    assert "SKIPPED" in r.stdout and "could not run here" not in r.stdout, r.stdout


def test_check_discovery_without_a_mount_namespace_fails_unless_allow_skip():
    argv = [*unprivileged(), str(REPO / BUILD / "check_all")]
    env = {"CK_RUN_SUITE": "discovery", "CK_RUN_CASE": "resolve"}
    r = run(argv, allow_skip=False, **env)
    assert r.returncode == 1, r.stdout
    assert "many-address lookup cannot run here: no private mount namespace" in r.stdout, r.stdout
    assert "ALLOW_SKIP=1" in r.stdout, r.stdout

    r = run(argv, allow_skip=True, **env)
    assert r.returncode == 0, r.stdout
    assert "SKIP: many-address lookup: no private mount namespace" in r.stdout, r.stdout
    assert "Checks: 4, Failures: 0, Errors: 0" in r.stdout, r.stdout


def test_distributed_without_root_fails_unless_allow_skip():
    argv = [*unprivileged(), str(REPO / "tests" / "distributed" / "run.sh")]
    r = run(argv, allow_skip=False, BUILD=BUILD)
    assert r.returncode == 1, r.stdout
    assert "FAIL: test-distributed cannot run here: it needs root" in r.stdout, r.stdout

    r = run(argv, allow_skip=True, BUILD=BUILD)
    assert r.returncode == 0, r.stdout
    assert "SKIP: test-distributed: it needs root" in r.stdout, r.stdout


def test_netem_without_root_fails_unless_allow_skip():
    argv = [*unprivileged(), str(REPO / "tests" / "netem" / "run.sh")]
    r = run(argv, allow_skip=False, BUILD=BUILD)
    assert r.returncode == 1, r.stdout
    assert "FAIL: test-netem cannot run here: it needs root" in r.stdout, r.stdout

    r = run(argv, allow_skip=True, BUILD=BUILD)
    assert r.returncode == 0, r.stdout
    assert "SKIP: test-netem: it needs root" in r.stdout, r.stdout
