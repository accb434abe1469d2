#!/usr/bin/python3
"""tb_read.py — an independent reader of agentd's TensorBoard event files.

Checks each TFRecord's framing with its own bitwise CRC-32C, decodes each
Event with Google's protobuf (the library TensorBoard itself uses), and
prints one line per event:

    file_version<TAB>brain.Event:2
    <tag><TAB><step><TAB><simple_value as %.9g, or MISSING>

check_tblog.c runs it and compares its output with what it wrote. The
Python module for proto/tb_event.proto is generated into a temporary
folder with protoc, so nothing generated is kept.

usage: tb_read.py EVENT_FILE
"""
import os
import struct
import subprocess
import sys
import tempfile


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked(crc):
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def records(blob):
    off = 0
    while off < len(blob):
        if len(blob) - off < 12:
            raise ValueError("record header cut short at byte %d" % off)
        (length,) = struct.unpack_from("<Q", blob, off)
        (len_crc,) = struct.unpack_from("<I", blob, off + 8)
        if len_crc != masked(crc32c(blob[off:off + 8])):
            raise ValueError("bad length CRC at byte %d" % off)
        off += 12
        if len(blob) - off < length + 4:
            raise ValueError("record data cut short at byte %d" % off)
        data = blob[off:off + length]
        (data_crc,) = struct.unpack_from("<I", blob, off + length)
        if data_crc != masked(crc32c(data)):
            raise ValueError("bad data CRC at byte %d" % off)
        off += length + 4
        yield data


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    proto_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "proto")
    with tempfile.TemporaryDirectory() as gen:
        subprocess.run(["protoc", "--python_out=" + gen, "-I" + proto_dir, "tb_event.proto"], check=True)
        sys.path.insert(0, gen)
        import tb_event_pb2

        with open(sys.argv[1], "rb") as f:
            blob = f.read()
        for data in records(blob):
            ev = tb_event_pb2.Event()
            ev.ParseFromString(data)
            kind = ev.WhichOneof("what")
            if kind == "file_version":
                print("file_version\t%s" % ev.file_version)
            elif kind == "summary":
                for v in ev.summary.value:
                    shown = "%.9g" % v.simple_value if v.HasField("simple_value") else "MISSING"
                    print("%s\t%d\t%s" % (v.tag, ev.step, shown))
            else:
                print("UNKNOWN\t%s" % kind)


if __name__ == "__main__":
    main()
