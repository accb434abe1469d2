"""Build hook: make sure envd_client/envd_pb2.py exists before packaging.

The protobuf module is generated from ../../proto/envd.proto (or the file
named by $ENVD_PROTO) with protoc, exactly as `make python` does, whenever
it is missing or older than the .proto. Everything else is in pyproject.toml.
"""

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
GENERATED = HERE / "envd_client" / "envd_pb2.py"


def find_proto():
    for candidate in (os.environ.get("ENVD_PROTO"), HERE.parent.parent / "proto" / "envd.proto"):
        if candidate and Path(candidate).is_file():
            return Path(candidate).resolve()
    return None


def generate():
    proto = find_proto()
    stale = proto is not None and (
        not GENERATED.exists() or GENERATED.stat().st_mtime < proto.stat().st_mtime)
    if stale and shutil.which("protoc"):
        subprocess.check_call(["protoc", f"--python_out={GENERATED.parent}",
                               f"-I{proto.parent}", str(proto)])
    if not GENERATED.exists():
        raise SystemExit(
            "envd_client/envd_pb2.py is missing and cannot be generated: run `make python` "
            "in the envd repository, or install protoc and keep proto/envd.proto two levels "
            "above this directory (or point $ENVD_PROTO at it).")


class BuildPy(build_py):
    def run(self):
        generate()
        super().run()


setup(cmdclass={"build_py": BuildPy})
