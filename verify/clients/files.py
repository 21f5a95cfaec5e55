"""Read the CA files from a directory without trusting them: bounded in size, never blocking, regular files only.

The real files are a few KiB each. Whatever sits at those names (a 200 MB file, a FIFO nobody writes to, a
character device) is refused with a reason naming the file, before a byte of it is read. Symbolic links are
followed: a Kubernetes secret or projected volume is made of them (`ca-cert.pem -> ..data/ca-cert.pem`).
"""

from __future__ import annotations

import os
import stat

from ...generator.errors import FileRefused

# Largest CA file we read (docs/explanation/limits.md): a 4096-bit RSA key is ~3.3 KiB of PEM, a certificate
# ~2 KiB, so even a chain of MAX_CHAIN_CERTS large certificates stays far below it.
MAX_CA_FILE_BYTES = 1024 * 1024
# More certificates in cert-chain.pem (or root-cert.pem) than any real deployment has: root, one or two
# intermediates, perhaps a cross-signed root during a rotation. A chain check should at least warn beyond it.
MAX_CHAIN_CERTS = 16

_READ_CHUNK = 64 * 1024


class DirValues(dict[str, "bytes | None"]):
    """The CA files' bytes by name (None when absent or refused), and why each refused file was refused."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: dict[str, str] = {}


_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_bounded(path: str | os.PathLike[str], *, limit: int = MAX_CA_FILE_BYTES) -> bytes:
    """The bytes of the regular file at `path` (symlinks followed), at most `limit` of them.

    Raises FileNotFoundError, NotADirectoryError or IsADirectoryError as `Path.read_bytes` would (the caller treats
    them as "absent"), PermissionError and other OSErrors (ELOOP for a symlink loop) as they come, and FileRefused
    for a file that is not a regular file or is larger than `limit`. Opening never blocks: O_NONBLOCK keeps a FIFO
    without a writer (or a device) from holding the open, and fstat refuses it before any read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(f"{path} is a directory")
        if not stat.S_ISREG(info.st_mode):
            kind = next((words for test, words in _KINDS if test(info.st_mode)), "not a regular file")
            raise FileRefused(f"{os.path.basename(path)} is {kind}, not a regular file: not read")
        if info.st_size > limit:
            raise FileRefused(_too_large(path, info.st_size, limit))
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(_READ_CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # the file grew between fstat and read
            raise FileRefused(_too_large(path, size, limit))
        return b"".join(chunks)
    finally:
        os.close(fd)


def _too_large(path: str | os.PathLike[str], size: int, limit: int) -> str:
    return (
        f"{os.path.basename(path)} is {size:,} bytes, more than the {limit:,} a CA file may have (the real ones are "
        "a few KiB): not read"
    )


def read_ca_dir(directory: str | os.PathLike[str], names: tuple[str, ...]) -> DirValues:
    """Each named file's bytes: None when absent (or a directory), None plus a reason in `refused` when refused."""
    values = DirValues()
    for name in names:
        try:
            values[name] = read_bounded(os.path.join(directory, name))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            values[name] = None
        except FileRefused as refused:
            values[name] = None
            values.refused[name] = refused.reason
        except OSError as error:  # a symlink loop (ELOOP), no permission, an I/O error: unusable, and said so
            values[name] = None
            values.refused[name] = unreadable(name, error)
    return values


def unreadable(name: str, error: OSError) -> str:
    """Why the file at `name` cannot be read, in words (the OS's reason, plus what a symlink loop looks like)."""
    import errno

    reason = error.strerror or type(error).__name__
    if error.errno == errno.ELOOP:
        reason += " (a symbolic link that points back at itself, directly or through others)"
    elif error.errno == errno.EACCES:
        reason += " (the verifier's user may not read it)"
    return f"{name} cannot be read: {reason}: not read"
