"""Opening the files of a folder being ingested without leaving it or blocking.

The folder may be written by people who should not read the rest of the server
(a shared drive, an ingest root of the API), so:

- a link is followed only when its target lies inside the folder being ingested;
  a link to `/etc/passwd`, to the store itself or to another team's folder is
  refused, with a reason, and nothing of it is read;
- only regular files are opened: a FIFO would block the job forever (holding the
  store's writer lock), a device such as `/dev/zero` never ends, a socket is no
  document; each is skipped, with a reason;
- reading stops past the size limit, whatever the file's metadata said (a growing
  file, a file system that reports size 0).

The checks are made again on the opened file (its type, and that the path still
leads, inside the folder, to that very file), so swapping a file for a link between
the check and the open does not get anything past them.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import stat
from pathlib import Path
from typing import BinaryIO

CHUNK_BYTES = 1024 * 1024


class RefusedFile(Exception):
    """A file ingest does not read; the message is the reason shown to the admin."""


class FileTooLarge(RefusedFile):
    """More bytes than the size limit; `size` is the file's size when known."""

    def __init__(self, size: int | None = None) -> None:
        super().__init__("over the size limit")
        self.size = size


_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def require_regular(info: os.stat_result) -> None:
    if stat.S_ISREG(info.st_mode):
        return
    kind = next((name for test, name in _KINDS if test(info.st_mode)), "a special file")
    raise RefusedFile(f"not a regular file ({kind}): skipped")


def resolve_inside(file: Path, root: Path) -> Path:
    """The real path of `file`, which must lie inside `root` (a resolved folder, or the
    resolved file itself when one file is ingested). OSError if it does not exist."""
    try:
        target = file.resolve(strict=True)
    except RuntimeError as exc:  # a loop of links, before Python 3.13
        raise RefusedFile("a loop of links: skipped") from exc
    if not target.is_relative_to(root):
        raise RefusedFile(
            "a link to a file outside the folder being ingested: not followed (ingest "
            "the target's own folder, or copy the file in)"
        )
    return target


def open_inside(file: Path, root: Path) -> BinaryIO:
    """`file` opened for reading, if it is a regular file inside `root` (links inside
    `root` are followed). RefusedFile says why not; OSError if it cannot be read."""
    target = resolve_inside(file, root)
    require_regular(os.stat(target))  # before opening: opening a FIFO blocks
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags)
    try:
        opened = os.fstat(fd)
        require_regular(opened)
        now = os.stat(resolve_inside(file, root))
        if (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino):
            raise RefusedFile("the file was replaced while being opened: run the ingest again")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def hash_limited(fh: BinaryIO, max_bytes: int) -> tuple[int, str]:
    """The size and SHA-256 of what `fh` holds; FileTooLarge once more than `max_bytes`
    were read (at most `max_bytes + 1` are)."""
    digest = hashlib.sha256()
    size = 0
    while chunk := fh.read(min(CHUNK_BYTES, max_bytes + 1 - size)):
        digest.update(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise FileTooLarge()
    return size, digest.hexdigest()


def read_limited(fh: BinaryIO, max_bytes: int) -> bytes:
    """All of `fh`, or FileTooLarge once more than `max_bytes` were read. Read in
    chunks: one `read(max_bytes + 1)` would reserve the whole limit at once, which a
    parser's address-space limit may not allow even for a small file."""
    data = bytearray()
    while chunk := fh.read(min(CHUNK_BYTES, max_bytes + 1 - len(data))):
        data += chunk
        if len(data) > max_bytes:
            raise FileTooLarge()
    return bytes(data)
