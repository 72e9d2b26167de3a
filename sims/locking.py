"""An exclusive lock on an output file or directory, so that two processes never write the same results.

Two sweeps (or figure runs) writing one output would each rewrite the shared file from their own records
and silently lose the other's cells. :class:`OutputLock` makes the second writer fail at once with
:class:`~sims.validation.OutputLockedError`, naming the process that holds the lock.

Mechanism: a lock file (``<file>.lock`` beside a file, ``<dir>/.mdm-suite.lock`` inside a directory)
holding the writer's pid, host, start time and command line, locked with ``flock`` (POSIX). The kernel
drops the ``flock`` when the process ends however it ends, so a lock file left by a killed process is
stale by construction and the next writer takes it over (recorded in :attr:`OutputLock.stale_from`);
nobody has to delete it by hand. ``flock`` is per open file, so a second handle in the *same* process is
recognised by the pid in the file and shares the lock instead of failing (a resumed store in one
program). Locks are advisory: they guard against other copies of the suite, not against other programs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from sims.validation import OutputLockedError

#: Name of the lock file inside a locked directory.
DIRECTORY_LOCK_NAME = ".mdm-suite.lock"


def lock_path_for(target: str | os.PathLike, directory: bool | None = None) -> Path:
    """The lock file of ``target``: inside it for a directory, else ``<target>.lock`` beside it.
    ``directory=None`` asks the file system (a directory that does not exist yet needs ``True``)."""
    target = Path(target)
    is_dir = target.is_dir() if directory is None else directory
    return target / DIRECTORY_LOCK_NAME if is_dir else target.with_name(target.name + ".lock")


def _read_holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        raw = os.read(fd, 65536)
        info = json.loads(raw.decode()) if raw else {}
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


def _describe(info: dict) -> str:
    if not info:
        return "a process that left no details"
    return (
        f"pid {info.get('pid')} on host {info.get('host')!r} since {info.get('started')} "
        f"(command: {info.get('command', '?')})"
    )


class OutputLock:
    """Exclusive inter-process lock of an output file or directory (see the module docstring).

    Use as a context manager, or :meth:`acquire` / :meth:`release`. Attributes after :meth:`acquire`:
    ``owner`` (False when another handle of this process already held it), ``stale_from`` (the details
    of a dead previous holder whose lock was taken over, else None).
    """

    def __init__(self, target: str | os.PathLike, directory: bool | None = None):
        self.target = Path(target)
        self.path = lock_path_for(self.target, directory)
        self._fd: int | None = None
        self._shared = False
        self.owner = False
        self.stale_from: dict | None = None

    @property
    def held(self) -> bool:
        """True while this handle holds the lock (as its owner or shared within this process)."""
        return self._fd is not None or self._shared

    def acquire(self) -> OutputLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(20):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                info = _read_holder(fd)
                os.close(fd)
                if info.get("pid") == os.getpid() and info.get("host") == socket.gethostname():
                    self._shared = True  # another handle of this very process holds it
                    return self
                raise OutputLockedError(
                    f"{self.target} is being written by {_describe(info)}; wait for it to finish, or "
                    f"write to another output. (Lock file: {self.path}; it is released automatically "
                    "when that process ends.)"
                ) from None
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if not same:  # the previous holder removed the file between our open and our flock
                os.close(fd)
                continue
            previous = _read_holder(fd)
            self.stale_from = previous or None
            info = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "command": " ".join(sys.argv)[:300],
            }
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(info).encode())
            os.fsync(fd)
            self._fd, self.owner = fd, True
            return self
        raise OutputLockedError(f"could not lock {self.target}: its lock file {self.path} kept changing")

    def release(self) -> None:
        """Give the lock up (removes the lock file); a no-op for a shared handle or when not held."""
        fd, self._fd = self._fd, None
        self._shared = False
        if fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        self.owner = False

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"OutputLock({str(self.target)!r}, owner={self.owner})"
