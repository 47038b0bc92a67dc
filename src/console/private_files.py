"""Files that hold patient data: created 0600 in 0700 directories, whatever the umask, never
through a symbolic link and never over an existing file unless the user asked (``force``).

Every writer of patient data uses this module: the session file and its lock, raw captures,
screenshots, CSV exports, rescue files. SQLite creates its own ``-wal``/``-shm`` files with
the database file's mode; the 0700 directory, whose owner and mode ``private_dir`` checks,
protects them too. Qt-free.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class PrivateFileError(OSError):
    """A patient-data file or directory cannot be used safely; ``str()`` is one readable line."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


def describe(path: str | os.PathLike, exc: OSError) -> str:
    """One line a person can act on, for an OSError met while writing ``path``."""
    if isinstance(exc, PrivateFileError):
        return str(exc)
    code = exc.errno
    if code == errno.EEXIST:
        return f"{path} already exists; it is never overwritten (choose a new name, or --force)"
    if code == errno.ELOOP:
        return f"{path} is a symbolic link; patient data is never written through a link"
    if code == errno.ENOENT:
        return f"{path}: the directory does not exist"
    if code == errno.EISDIR:
        return f"{path} is a directory"
    return f"cannot write {path}: {exc.strerror or exc}"


def _check_dir(path: Path) -> None:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise PrivateFileError(errno.ELOOP, f"{path} is a symbolic link, not a directory; "
                                            "patient data is never written through a link")
    if not stat.S_ISDIR(st.st_mode):
        raise PrivateFileError(errno.ENOTDIR, f"{path} is not a directory")
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        raise PrivateFileError(errno.EPERM, f"{path} belongs to another user (uid {st.st_uid}); "
                                            "patient data is kept only in the user's own directory")


def private_dir(path: str | os.PathLike, *, tighten: bool = True, parents: bool = True) -> Path:
    """Make ``path`` a directory only its owner can enter (0700), or check the one there.

    Directories this creates (and missing parents, when ``parents``) are 0700 whatever the
    umask. An existing directory must be a real directory (not a link) owned by this user;
    with ``tighten`` its mode is set to 0700 (the session directory: it protects SQLite's
    -wal/-shm files), without it the mode is left as the user made it (an export folder).
    Raises PrivateFileError / OSError."""
    path = Path(path)
    missing = []
    p = path
    while not os.path.lexists(p):
        missing.append(p)
        if p.parent == p or not parents:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, DIR_MODE)
        except FileExistsError:
            pass
        else:
            os.chmod(d, DIR_MODE)  # the umask may have taken bits away: set exactly 0700
    _check_dir(path)
    if tighten and stat.S_IMODE(os.lstat(path).st_mode) != DIR_MODE:
        os.chmod(path, DIR_MODE)
    return path


def open_private_fd(path: str | os.PathLike, *, force: bool = False, append: bool = False,
                    read: bool = False) -> int:
    """Open ``path`` for writing as a 0600 regular file, never through a symbolic link.

    New file: ``O_CREAT|O_EXCL`` (an existing file or link is refused). ``force``: an existing
    regular file is truncated. ``append``: an existing regular file is appended to (raw
    captures: a restart never destroys one). Either way its mode becomes 0600.
    Raises OSError (use ``describe`` for the words)."""
    flags = (os.O_RDWR if read else os.O_WRONLY) | os.O_CREAT | _NOFOLLOW | _CLOEXEC
    if append:
        flags |= os.O_APPEND
    elif force:
        flags |= os.O_TRUNC
    else:
        flags |= os.O_EXCL
    if (force or append) and os.path.islink(path):
        raise PrivateFileError(errno.ELOOP, describe(path, OSError(errno.ELOOP, "")))
    fd = os.open(path, flags, FILE_MODE)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PrivateFileError(errno.EINVAL, f"{path} is not a regular file")
        if stat.S_IMODE(st.st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)  # whatever the umask, or the old file's mode, said
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_private(path: str | os.PathLike, mode: str = "w", *, force: bool = False, **kwargs):
    """``open()`` for a new private file: ``"w"``/``"wb"`` (``force`` to replace one),
    ``"a"``/``"ab"`` appends. Text modes default to UTF-8."""
    append = mode.startswith("a")
    fd = open_private_fd(path, force=force, append=append)
    if "b" not in mode:
        kwargs.setdefault("encoding", "utf-8")
    return open(fd, mode, **kwargs)


def write_private(path: str | os.PathLike, data: bytes, *, force: bool = False) -> None:
    """Write ``data`` as a new private file (``force``: replace an existing regular file)."""
    with open_private(path, "wb", force=force) as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


__all__ = ["DIR_MODE", "FILE_MODE", "PrivateFileError", "describe", "open_private", "open_private_fd",
           "private_dir", "write_private"]
