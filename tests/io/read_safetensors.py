#!/usr/bin/env python3
"""Independent safetensors reader (standard library only) used to check files written by mhc::io.

Prints one line per tensor in data order: name, dtype, shape, and for F32 tensors the sum of the values;
then the metadata as sorted "key=value" lines. Exits non-zero on a malformed file.
"""
import json
import math
import struct
import sys

ELEMENT_BYTES = {"F32": 4, "BF16": 2, "F64": 8, "I32": 4}


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: shorter than 8 bytes")
    (header_length,) = struct.unpack("<Q", blob[:8])
    if 8 + header_length > len(blob):
        raise ValueError(f"{path}: header length {header_length} beyond the file")
    header = json.loads(blob[8:8 + header_length].decode("utf-8"))
    data = blob[8 + header_length:]
    metadata = header.pop("__metadata__", {})
    tensors = sorted(header.items(), key=lambda item: item[1]["data_offsets"])
    cursor = 0
    lines = []
    for name, info in tensors:
        begin, end = info["data_offsets"]
        shape = info["shape"]
        count = 1
        for extent in shape:
            count *= extent
        if begin != cursor or end - begin != count * ELEMENT_BYTES[info["dtype"]]:
            raise ValueError(f"{path}: bad data_offsets {info['data_offsets']} of {name}")
        cursor = end
        line = f"{name} {info['dtype']} {shape}"
        if info["dtype"] == "F32":
            line += f" sum={math.fsum(struct.unpack(f'<{count}f', data[begin:end]))!r}"
        lines.append(line)
    if cursor != len(data):
        raise ValueError(f"{path}: {len(data) - cursor} trailing bytes")
    lines += [f"{key}={value}" for key, value in sorted(metadata.items())]
    return lines


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: read_safetensors.py FILE")
    print("\n".join(read(sys.argv[1])))
