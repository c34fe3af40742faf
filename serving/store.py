"""The shared store between the control plane and the data plane.

One small interface, :class:`Store`, with two implementations:

* :class:`RedisStore` when ``REDIS_URL`` is set;
* :class:`SqliteStore`, an embedded SQLite file (``DATAPLANE_STORE_PATH``, default
  ``dataplane.sqlite3`` in the control plane's ``var/`` directory) in WAL mode, safe to use from
  several processes at once, so the product runs with no Redis at all.

Two kinds of data live here:

**Documents** are JSON values with a version counter that goes up by one on every write. The
control plane publishes the gateway's route table as the document ``gateway:routes``
(:data:`ROUTES_KEY`); the gateway polls :meth:`Store.document_version` and reloads the document
only when the version moved::

    store = open_store()
    store.set_document("gateway:routes", {
        "acme/chat": {"replicas": ["http://127.0.0.1:9001"], "scaled_to_zero": False, "revision": 3},
    })

**Counters** are integer fields under a key, like a Redis hash. The gateway adds to them
(:meth:`Store.incr_many`) and the control plane reads them with :meth:`Store.counters` or takes
and clears them atomically with :meth:`Store.pop_counters`, so each increment is rolled up
exactly once even while the gateway keeps writing::

    for key in store.keys("meter:"):
        usage = store.pop_counters(key)     # {"requests": 12, "tokens_out": 340, ...}

The meter key layout is documented in ``serving/README.md``.

All methods are blocking; async callers run them in a thread.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Protocol

ROUTES_KEY = "gateway:routes"


class Store(Protocol):
    def get_document(self, key: str) -> tuple[int, Any]:
        """Return ``(version, value)``; ``(0, None)`` when the document was never written."""

    def set_document(self, key: str, value: Any) -> int:
        """Replace the document with ``value`` (any JSON-serialisable value) and return its new
        version, which is one more than the previous one. Atomic against concurrent writers."""

    def document_version(self, key: str) -> int:
        """Return the document's version (0 if absent) without reading the value: cheap enough
        to poll several times a second."""

    def incr(self, key: str, field: str, amount: int = 1) -> int:
        """Add ``amount`` to the integer counter ``field`` under ``key`` and return the new value."""

    def incr_many(self, key: str, amounts: dict[str, int]) -> None:
        """Add each of ``amounts`` to its counter under ``key`` in one atomic step."""

    def counters(self, key: str) -> dict[str, int]:
        """Snapshot of every counter under ``key`` (empty dict if none)."""

    def pop_counters(self, key: str) -> dict[str, int]:
        """Return every counter under ``key`` and reset them, atomically: an increment made
        concurrently lands either in the returned snapshot or in the next one, never in neither."""

    def keys(self, prefix: str) -> list[str]:
        """Keys of counters whose name starts with ``prefix`` (e.g. ``"meter:"``), sorted.

        Documents and counters share one key space on Redis: keep their prefixes apart
        (``gateway:`` for documents, ``meter:`` for counters)."""

    def close(self) -> None:
        """Release connections."""


class SqliteStore:
    """Embedded store in one SQLite file.

    WAL lets readers (the gateway polling routes) run while a writer commits, and the busy
    timeout makes concurrent writers from other processes wait instead of failing. One
    connection per store object, guarded by a lock, because sqlite3 connections must not be
    used by two threads at once.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves so read-modify-write steps
        # take the write lock up front instead of failing to upgrade a read lock later.
        self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=30000")
        with self._write():
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS documents ("
                " key TEXT PRIMARY KEY, version INTEGER NOT NULL, value TEXT NOT NULL)"
            )
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS counters ("
                " key TEXT NOT NULL, field TEXT NOT NULL, value INTEGER NOT NULL,"
                " PRIMARY KEY (key, field)) WITHOUT ROWID"
            )

    def _write(self) -> _Transaction:
        return _Transaction(self._conn, self._lock)

    def get_document(self, key: str) -> tuple[int, Any]:
        with self._lock:
            row = self._conn.execute("SELECT version, value FROM documents WHERE key = ?", (key,)).fetchone()
        return (0, None) if row is None else (row[0], json.loads(row[1]))

    def set_document(self, key: str, value: Any) -> int:
        encoded = json.dumps(value, separators=(",", ":"), sort_keys=True)
        with self._write():
            row = self._conn.execute(
                "INSERT INTO documents (key, version, value) VALUES (?, 1, ?)"
                " ON CONFLICT (key) DO UPDATE SET version = version + 1, value = excluded.value"
                " RETURNING version",
                (key, encoded),
            ).fetchone()
        return row[0]

    def document_version(self, key: str) -> int:
        with self._lock:
            row = self._conn.execute("SELECT version FROM documents WHERE key = ?", (key,)).fetchone()
        return 0 if row is None else row[0]

    def incr(self, key: str, field: str, amount: int = 1) -> int:
        with self._write():
            row = self._conn.execute(
                "INSERT INTO counters (key, field, value) VALUES (?, ?, ?)"
                " ON CONFLICT (key, field) DO UPDATE SET value = value + excluded.value RETURNING value",
                (key, field, int(amount)),
            ).fetchone()
        return row[0]

    def incr_many(self, key: str, amounts: dict[str, int]) -> None:
        if not amounts:
            return
        with self._write():
            self._conn.executemany(
                "INSERT INTO counters (key, field, value) VALUES (?, ?, ?)"
                " ON CONFLICT (key, field) DO UPDATE SET value = value + excluded.value",
                [(key, field, int(amount)) for field, amount in amounts.items()],
            )

    def counters(self, key: str) -> dict[str, int]:
        with self._lock:
            rows = self._conn.execute("SELECT field, value FROM counters WHERE key = ?", (key,)).fetchall()
        return dict(rows)

    def pop_counters(self, key: str) -> dict[str, int]:
        with self._write():
            rows = self._conn.execute(
                "DELETE FROM counters WHERE key = ? RETURNING field, value", (key,)
            ).fetchall()
        return dict(rows)

    def keys(self, prefix: str) -> list[str]:
        # Escape LIKE wildcards so a prefix such as "meter:a_b" matches literally.
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self._lock:
            rows = self._conn.execute(
                "SELECT DISTINCT key FROM counters WHERE key LIKE ? ESCAPE '\\' ORDER BY key", (pattern,)
            ).fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (or ``ROLLBACK``) under the store's thread lock."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock) -> None:
        self._conn, self._lock = conn, lock

    def __enter__(self) -> None:
        self._lock.acquire()
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._conn.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self._lock.release()


class RedisStore:
    """Store on Redis.

    A document is a hash ``{version, value}`` under its key, so reading the version is one
    ``HGET``. Counters are a plain hash per key (``HINCRBY``), which the control plane can also
    read with ``redis-cli HGETALL meter:acme/chat``.
    """

    def __init__(self, url: str) -> None:
        import redis  # imported here so the embedded default works without the package configured

        self._redis = redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)

    def get_document(self, key: str) -> tuple[int, Any]:
        version, value = self._redis.hmget(key, ["version", "value"])
        if version is None or value is None:
            return 0, None
        return int(version), json.loads(value)

    def set_document(self, key: str, value: Any) -> int:
        encoded = json.dumps(value, separators=(",", ":"), sort_keys=True)
        pipe = self._redis.pipeline(transaction=True)  # MULTI/EXEC: version and value move together
        pipe.hincrby(key, "version", 1)
        pipe.hset(key, "value", encoded)
        version, _ = pipe.execute()
        return int(version)

    def document_version(self, key: str) -> int:
        version = self._redis.hget(key, "version")
        return 0 if version is None else int(version)

    def incr(self, key: str, field: str, amount: int = 1) -> int:
        return int(self._redis.hincrby(key, field, int(amount)))

    def incr_many(self, key: str, amounts: dict[str, int]) -> None:
        if not amounts:
            return
        pipe = self._redis.pipeline(transaction=True)
        for field, amount in amounts.items():
            pipe.hincrby(key, field, int(amount))
        pipe.execute()

    def counters(self, key: str) -> dict[str, int]:
        return {field: int(value) for field, value in self._redis.hgetall(key).items()}

    def pop_counters(self, key: str) -> dict[str, int]:
        pipe = self._redis.pipeline(transaction=True)
        pipe.hgetall(key)
        pipe.delete(key)
        values, _ = pipe.execute()
        return {field: int(value) for field, value in values.items()}

    def keys(self, prefix: str) -> list[str]:
        # Escape glob characters so the prefix matches literally.
        escaped = "".join("\\" + c if c in "*?[]\\" else c for c in prefix)
        return sorted(set(self._redis.scan_iter(match=escaped + "*", count=500)))

    def close(self) -> None:
        self._redis.close()


def open_store(*, redis_url: str | None = None, sqlite_path: str | None = None) -> Store:
    """The store the environment asks for: Redis when ``REDIS_URL`` (or ``redis_url``) is set,
    otherwise the SQLite file at ``DATAPLANE_STORE_PATH`` (or ``sqlite_path``), by default
    ``dataplane.sqlite3`` in ``CONTROLPLANE_VAR_DIR`` (``var/`` at the repository root)."""
    from serving.config import var_dir

    url = redis_url if redis_url is not None else os.environ.get("REDIS_URL", "")
    if url:
        return RedisStore(url)
    return SqliteStore(
        sqlite_path or os.environ.get("DATAPLANE_STORE_PATH") or var_dir() / "dataplane.sqlite3"
    )
