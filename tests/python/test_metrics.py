"""envd's /metrics read as Prometheus reads it: the text parsed by the
Prometheus Python client's own parser (Debian's python3-prometheus-client,
installed by `make deps`), the standard process_* series compared with
what /proc and prlimit say about the envd process from outside, and
envd_build_info against `envd --version`."""

from __future__ import annotations

import os
import resource
import subprocess
import urllib.request

import pytest

from conftest import ENVD, free_port
from test_cli import start_envd, stop_envd

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # installable: a missing package is a failure, not a skip
    text_string_to_metric_families = None


def scrape(port: int) -> dict:
    if text_string_to_metric_families is None:
        pytest.fail("python3-prometheus-client is missing: run `make deps`")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def proc_stat(pid: int) -> list[str]:
    """Fields of /proc/PID/stat, numbered as in proc(5) (index 1 = pid)."""
    raw = open(f"/proc/{pid}/stat").read()
    return [""] + [raw[:raw.index(" ")], raw[raw.index("(") + 1:raw.rindex(")")]] + \
        raw[raw.rindex(")") + 2:].split()


def test_metrics_parse_and_process_series_match_proc(tmp_path):
    port = free_port()
    proc, log = start_envd(tmp_path, "--bind", f"tcp://127.0.0.1:{free_port()}", "--metrics",
                           str(port))
    try:
        fam = scrape(port)
        ticks = os.sysconf("SC_CLK_TCK")
        page = os.sysconf("SC_PAGESIZE")
        st = proc_stat(proc.pid)
        btime = next(int(l.split()[1]) for l in open("/proc/stat") if l.startswith("btime "))
        fds = len(os.listdir(f"/proc/{proc.pid}/fd"))
        soft, _ = resource.prlimit(proc.pid, resource.RLIMIT_NOFILE)

        def value(name: str) -> float:
            (s,) = fam[name].samples
            return s.value

        assert fam["process_cpu_seconds"].type == "counter"   # the parser drops _total
        for g in ("process_resident_memory_bytes", "process_virtual_memory_bytes",
                  "process_open_fds", "process_max_fds", "process_start_time_seconds",
                  "envd_build_info"):
            assert fam[g].type == "gauge", g
        cpu = value("process_cpu_seconds")
        assert 0 <= (int(st[14]) + int(st[15])) / ticks - cpu <= 0.5, (cpu, st[14:16])
        assert abs(value("process_resident_memory_bytes") - int(st[24]) * page) <= 4 << 20
        assert abs(value("process_virtual_memory_bytes") - int(st[23])) <= 16 << 20
        assert value("process_start_time_seconds") == pytest.approx(btime + int(st[22]) / ticks,
                                                                    abs=0.011)
        assert value("process_max_fds") == soft  # envd raised it to the hard limit
        assert abs(value("process_open_fds") - fds) <= 2, (value("process_open_fds"), fds)

        version = subprocess.run([str(ENVD), "--version"], capture_output=True, text=True,
                                 timeout=30).stdout  # "envd 0.1.0 (protocol 1.2)"
        (info,) = fam["envd_build_info"].samples
        assert info.value == 1
        assert version.startswith(f"envd {info.labels['version']} (protocol "
                                  f"{info.labels['protocol']})"), (version, info.labels)
        assert value("envd_sessions_active") == 0
    finally:
        stop_envd(proc, log)
