"""Opens zip archives (nested ones too) member by member, within limits that stop zip bombs."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
READ_CHUNK = 1 << 16


@dataclass(frozen=True)
class Limits:
    max_depth: int = 3  # archives inside archives inside the attachment
    max_total: int = 100 * 1024 * 1024  # uncompressed bytes read out of all archives of one message
    max_ratio: float = 200.0  # uncompressed / compressed size of one member …
    ratio_floor: int = 1024 * 1024  # … counted only for members bigger than this (small ones cost nothing)
    max_members: int = 1000  # files in one archive


@dataclass(frozen=True)
class Item:
    """One file to scan: a MIME part, or a member of an archive found in one."""

    path: str  # "Hồ sơ.zip/2024/báo cáo.pdf.exe"; a part's own label at the top
    name: str  # the file's own name, "" when it has none
    data: bytes
    depth: int  # 0 for the part itself
    container: str = ""  # path of the archive holding it; "" for a part


@dataclass(frozen=True)
class Problem:
    """Why some of an archive could not be scanned."""

    kind: str  # depth, size, ratio, members, encrypted, corrupt
    path: str
    detail: str


@dataclass
class Walk:
    items: list[Item] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    total: int = 0  # uncompressed bytes read so far


def is_zip(data: bytes) -> bool:
    return data[:4] in ZIP_MAGIC


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes | None:
    """The member's bytes, or None when it holds more than `budget` (declared sizes may lie)."""
    out = bytearray()
    with archive.open(info) as member:
        while chunk := member.read(READ_CHUNK):
            out += chunk
            if len(out) > budget:
                return None
    return bytes(out)


def expand(walk: Walk, item: Item, limits: Limits, check_time: Callable[[], None]) -> None:
    """Adds `item` and, when it is a zip archive, everything inside it, to `walk`."""
    walk.items.append(item)
    if not is_zip(item.data):
        return
    if item.depth >= limits.max_depth:
        walk.problems.append(Problem("depth", item.path, f"archive nested deeper than {limits.max_depth}"))
        return
    try:
        archive = zipfile.ZipFile(io.BytesIO(item.data))
        members = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        walk.problems.append(Problem("corrupt", item.path, f"{type(exc).__name__}: {exc}"[:200]))
        return
    if len(members) > limits.max_members:
        walk.problems.append(Problem("members", item.path, f"{len(members)} files, more than {limits.max_members}"))
        members = members[:limits.max_members]
    for info in members:
        check_time()
        path = f"{item.path}/{info.filename}"
        if info.flag_bits & 0x1:
            walk.problems.append(Problem("encrypted", path, "encrypted member cannot be scanned"))
            continue
        if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            walk.problems.append(Problem(
                "ratio", path, f"{info.file_size} bytes from {info.compress_size}, ratio above {limits.max_ratio:g}"))
            continue
        budget = limits.max_total - walk.total
        try:
            data = read_member(archive, info, budget)
        except (zipfile.BadZipFile, NotImplementedError, ValueError, OSError, EOFError) as exc:
            walk.problems.append(Problem("corrupt", path, f"{type(exc).__name__}: {exc}"[:200]))
            continue
        if data is None:
            walk.problems.append(Problem("size", path, f"archives expand past {limits.max_total} bytes"))
            return
        walk.total += len(data)
        name = info.filename.rstrip("/").rpartition("/")[2]
        expand(walk, Item(path, name, data, item.depth + 1, item.path), limits, check_time)


def walk_part(label: str, filename: str, data: bytes, limits: Limits, check_time: Callable[[], None],
              walk: Walk | None = None) -> Walk:
    """Every file one MIME part holds: the part itself, then archive members depth first."""
    walk = walk or Walk()
    expand(walk, Item(label, filename, data, 0), limits, check_time)
    return walk
