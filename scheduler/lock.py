"""One scheduler per archive: a lock that the operating system or the database frees on a crash.

PostgreSQL: a session advisory lock on a connection kept open for the service's life (the server
drops it when the connection goes). SQLite: `fcntl.flock` on a file next to the database file
(the kernel drops it when the process dies). Either way a SIGKILLed service leaves no stale lock.

A PostgreSQL lock also goes when its connection does (a server restart, a terminated backend)
while the service lives on: `check`, called periodically by the service, takes it again, or
reports that another scheduler has it.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

# A fixed 64-bit advisory lock key; advisory locks are per database, so per archive.
ADVISORY_KEY = int.from_bytes(hashlib.sha256(b"newsarchive.scheduler").digest()[:8], "big", signed=True)
LOCK_SUFFIX = ".scheduler.lock"


class LockError(RuntimeError):
    """The service may not start on this archive; str() is a one-line explanation."""


class ServiceLock:
    """Held from `acquire` until `release` (or the process's death)."""

    def __init__(self, description: str, release, check=None) -> None:
        self.description = description
        self._release = release
        self._check = check

    def check(self) -> str | None:
        """None while the lock is held; a warning to log when it had to be taken again or could
        not be checked (the database is unreachable, so nobody can take it either). Raises
        LockError when another scheduler has taken it."""
        return self._check() if self._check is not None else None

    @classmethod
    def acquire(cls, database_url: str) -> ServiceLock:
        try:
            url = make_url(database_url)
        except ArgumentError:
            raise LockError(f"not a database URL: {database_url!r}") from None
        if url.get_backend_name() == "sqlite":
            return cls._acquire_file(url.database)
        if url.get_backend_name() == "postgresql":
            return cls._acquire_advisory(database_url)
        raise LockError(f"the scheduler needs a SQLite or PostgreSQL archive, not {url.get_backend_name()}")

    def release(self) -> None:
        if self._release is not None:
            self._release()
            self._release = None

    @classmethod
    def _acquire_file(cls, database: str | None) -> ServiceLock:
        if not database or database == ":memory:" or database.startswith("file:"):
            raise LockError("the scheduler needs an archive in a SQLite file, not an in-memory database")
        path = Path(database).absolute().with_name(Path(database).name + LOCK_SUFFIX)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LockError(f"cannot open the scheduler lock file {path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise LockError(
                f"another scheduler is already running on this archive (pid {holder}, lock {path})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)

        def release() -> None:
            os.ftruncate(fd, 0)
            os.close(fd)  # closing the descriptor drops the flock

        return cls(f"lock file {path}", release)

    @classmethod
    def _acquire_advisory(cls, database_url: str) -> ServiceLock:
        engine = create_engine(
            database_url,
            isolation_level="AUTOCOMMIT",
            pool_size=1,
            max_overflow=0,
            # connect_timeout bounds a check (and so a stop) while the server is unreachable
            connect_args={"application_name": "newsarchive-scheduler-lock", "connect_timeout": 10},
        )
        try:
            connection = engine.connect()
            locked = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
            ).scalar()
        except SQLAlchemyError as exc:
            engine.dispose()
            reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
            raise LockError(f"cannot reach the archive database: {reason[:200]}") from None
        if not locked:
            connection.close()
            engine.dispose()
            raise LockError("another scheduler is already running on this archive (PostgreSQL advisory lock held)")
        held = {"connection": connection}

        def check() -> str | None:
            try:
                held["connection"].execute(text("SELECT 1"))
                return None
            except SQLAlchemyError:
                held["connection"].close()  # the session, and the lock with it, is gone
            try:
                held["connection"] = engine.connect()
                locked = held["connection"].execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
                ).scalar()
            except SQLAlchemyError as exc:
                reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
                return f"cannot check the scheduler lock, the archive database is unreachable: {reason[:200]}"
            if not locked:
                raise LockError("lost the scheduler lock: its database connection was dropped and "
                                "another scheduler took the lock")
            return "the scheduler lock's database connection was dropped; lock taken again"

        def release() -> None:
            try:
                held["connection"].execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
                held["connection"].close()
            except SQLAlchemyError:
                pass  # the connection is gone, and the lock with it
            engine.dispose()

        return cls(f"PostgreSQL advisory lock {ADVISORY_KEY}", release, check)
