"""The generated protocol module, with a useful message when it is missing.

``envd_pb2.py`` is a build output (``make python`` runs protoc on
proto/envd.proto; ``pip install`` does the same through setup.py), never
committed. Everything else in the package imports it from here.
"""

try:
    from . import envd_pb2 as pb
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        "envd_client: the generated module envd_client/envd_pb2.py is missing. "
        "Run `make python` at the top of the envd repository (it runs protoc on "
        "proto/envd.proto), or install with `pip install ./clients/python`, which "
        "generates it."
    ) from exc

try:
    from google.protobuf.internal import api_implementation as _impl

    PROTOBUF_IMPLEMENTATION = _impl.Type()
except Exception:  # pragma: no cover - private API moved
    PROTOBUF_IMPLEMENTATION = "unknown"

__all__ = ["pb", "PROTOBUF_IMPLEMENTATION"]
