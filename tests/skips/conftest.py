"""pytest setup for tests/skips: the suite's skip rule applies here too
(tests/skip_policy.py).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import skip_policy  # noqa: E402


def pytest_configure(config):
    skip_policy.register(config)
