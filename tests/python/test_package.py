"""Packaging: the package imports from the source tree after `make`, and
`pip install ./clients/python` builds (generating envd_pb2.py with protoc when
it is missing) and installs a package that imports from anywhere.

pip runs offline here: --no-build-isolation (setuptools from the system),
--no-deps and --no-index (pyzmq, protobuf and numpy come from Debian).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PKG = REPO / "clients" / "python"


def test_import_from_the_source_tree_with_pythonpath():
    env = dict(os.environ, PYTHONPATH=str(PKG))
    out = subprocess.run([sys.executable, "-c", "import envd_client; print(envd_client.__file__)"],
                         capture_output=True, text=True, timeout=60, cwd=REPO, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(PKG / "envd_client" / "__init__.py")


def _copy_sources(dst: Path) -> Path:
    """clients/python and proto/ in the same relative layout, without the
    generated module or build leftovers."""
    pkg = dst / "clients" / "python"
    shutil.copytree(PKG, pkg, ignore=shutil.ignore_patterns(
        "envd_pb2.py", "__pycache__", "build", "*.egg-info"))
    shutil.copytree(REPO / "proto", dst / "proto")
    return pkg


def test_pip_builds_a_wheel_generating_the_protobuf_module_and_installs_it(tmp_path):
    src = _copy_sources(tmp_path / "src")
    assert not (src / "envd_client" / "envd_pb2.py").exists()
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    out = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                          "-w", str(wheels), str(src)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    (wheel,) = wheels.glob("envd_client-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for module in ("__init__", "__main__", "envd_pb2", "client", "env", "vector", "spaces", "errors",
                   "compat", "sb3"):
        assert f"envd_client/{module}.py" in names, module
    metadata = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith("METADATA"))).decode()
    for dep in ("pyzmq", "protobuf", "numpy"):
        assert f"Requires-Dist: {dep}" in metadata

    # Install into a fresh venv that sees Debian's pyzmq/protobuf/numpy.
    venv_dir = tmp_path / "venv"
    venv.create(venv_dir, system_site_packages=True, with_pip=False)
    py = venv_dir / "bin" / "python"
    out = subprocess.run([*pip, "--python", str(py), "install", "--no-deps", "--no-index", str(wheel)],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0 and "no such option: --python" in out.stderr:  # pip < 22.3
        out = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
                             capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([str(py), "-c", "import envd_client, envd_client.envd_pb2 as pb; "
                          "print(envd_client.__file__); print(pb.Request.DESCRIPTOR.full_name)"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    path, name = out.stdout.split()
    assert path.startswith(str(venv_dir)) and name == "envd.v1.Request"
