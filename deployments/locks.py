"""Named locks across processes that die with their holder: a worker killed mid-reconcile never
leaves a lock behind. PostgreSQL session advisory locks (released when the connection drops),
file locks under var/ on the embedded SQLite default (released when the process exits)."""

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator

from django.conf import settings
from django.db import connection

_NAMESPACE = 0x6370  # "cp": keeps our advisory lock ids apart from anyone else's on the database


def _lock_id(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big", signed=True)


@contextlib.contextmanager
def named_lock(name: str, *, blocking: float = 0) -> Iterator[bool]:
    """Yields True when held. `blocking` seconds to wait for it; 0 means try once."""
    deadline = time.monotonic() + blocking
    if connection.vendor == "postgresql":
        key = _lock_id(name)
        with connection.cursor() as cursor:
            while True:
                cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_NAMESPACE, key])
                held = cursor.fetchone()[0]
                if held or time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
        try:
            yield held
        finally:
            if held:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_NAMESPACE, key])
        return
    folder = settings.VAR_DIR / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"{name.replace('/', '_')}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
            except BlockingIOError:
                held = False
            if held or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        yield held
    finally:
        os.close(fd)


def deployment_lock(deployment_id: int):
    return named_lock(f"deployment:{deployment_id}")
