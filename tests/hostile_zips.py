"""Hostile project .zip files for the archive tests (issue 11), built in the test in milliseconds.

`write_zip` writes a zip byte by byte from `Raw` entries, so a test can set what zipfile's writer would not:
an encryption flag, another compression method, a size or CRC that lies, a symbolic link, a name twice,
the same compressed payload a thousand times (a 1 GiB bomb in about a megabyte without compressing 1 GiB).
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from conftest import STORY

STORED, DEFLATED = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED


def deflate(data: bytes) -> bytes:
    """A raw deflate stream, as zip entries hold it."""
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


@dataclass(frozen=True)
class Raw:
    """One entry as written: what it unpacks to, and anything its records should claim instead."""

    name: str
    data: bytes = b""
    method: int = DEFLATED
    flags: int = 0
    mode: int = 0o100644  # Unix mode in the high 16 bits of the external attributes
    payload: bytes | None = None  # the bytes stored (default: `data`, deflated when method is DEFLATED)
    crc: int | None = None  # the CRC-32 claimed (default: the data's)
    size: int | None = None  # the uncompressed size claimed (default: the data's)


def story(text: str = STORY) -> Raw:
    return Raw("story.yaml", text.encode("utf-8"))


def write_zip(path: Path, entries: list[Raw], declared_count: int | None = None) -> Path:
    """A zip of `entries` (local headers, data, central directory, end record); returns `path`."""
    body, directory = bytearray(), bytearray()
    for entry in entries:
        payload = entry.payload
        if payload is None:
            payload = deflate(entry.data) if entry.method == DEFLATED else entry.data
        crc = zlib.crc32(entry.data) if entry.crc is None else entry.crc
        size = len(entry.data) if entry.size is None else entry.size
        name = entry.name.encode("utf-8")
        offset = len(body)
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, entry.flags, entry.method, 0, 0x21, crc, len(payload), size,
                            len(name), 0) + name + payload
        directory += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", (3 << 8) | 20, 20, entry.flags, entry.method, 0, 0x21,
                                 crc, len(payload), size, len(name), 0, 0, 0, 0, entry.mode << 16, offset) + name
    count = len(entries) if declared_count is None else declared_count
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(directory), len(body), 0)
    path.write_bytes(bytes(body + directory + end))
    return path


def bomb_of_many(path: Path, count: int = 1024, each: int = 1024 * 1024) -> Path:
    """A project whose `count` renders of `each` zero bytes share one small deflate payload (1 GiB in ~1.2 MB)."""
    zeros = b"\0" * each
    payload, crc = deflate(zeros), zlib.crc32(zeros)
    return write_zip(path, [story()] + [Raw(f"renders/p1/{i}.png", payload=payload, crc=crc, size=each)
                                        for i in range(count)])


def leftovers(folder: Path) -> list[str]:
    """Everything under `folder`, for 'nothing was left behind' checks."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) if folder.exists() else []
