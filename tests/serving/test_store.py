"""Both store implementations behave the same; the SQLite one is safe across processes."""

from __future__ import annotations

import subprocess
import uuid

import pytest

from serving.store import RedisStore, SqliteStore, open_store
from tests.serving.conftest import PYTHON, REPO


def _redis(prefix: str):
    """The suite runs against a real Redis (make test starts one); its absence is a failure."""
    import redis

    redis.Redis.from_url("redis://127.0.0.1:6379/15").ping()
    return RedisStore("redis://127.0.0.1:6379/15")


@pytest.fixture(params=["sqlite", "redis"])
def store_and_prefix(request, tmp_path):
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    store = SqliteStore(tmp_path / "store.sqlite3") if request.param == "sqlite" else _redis(prefix)
    yield store, prefix
    if request.param == "redis":
        for key in store.keys(prefix):
            store._redis.delete(key)
        store._redis.delete(prefix + "doc")
    store.close()


def test_documents_are_versioned(store_and_prefix):
    store, prefix = store_and_prefix
    key = prefix + "doc"
    assert store.get_document(key) == (0, None)
    assert store.document_version(key) == 0
    assert store.set_document(key, {"a/b": {"replicas": []}}) == 1
    assert store.set_document(key, {"a/b": {"replicas": ["http://x"]}}) == 2
    assert store.document_version(key) == 2
    assert store.get_document(key) == (2, {"a/b": {"replicas": ["http://x"]}})


def test_counters(store_and_prefix):
    store, prefix = store_and_prefix
    key = prefix + "meter:acme/chat"
    assert store.incr(key, "requests") == 1
    assert store.incr(key, "requests", 4) == 5
    store.incr_many(key, {"tokens_in": 10, "tokens_out": 3})
    store.incr_many(key, {"tokens_in": 1})
    assert store.counters(key) == {"requests": 5, "tokens_in": 11, "tokens_out": 3}
    store.incr(prefix + "meter:other/x", "requests")
    store.incr(prefix + "meterless", "requests")
    assert store.keys(prefix + "meter:") == [prefix + "meter:acme/chat", prefix + "meter:other/x"]
    assert store.pop_counters(key) == {"requests": 5, "tokens_in": 11, "tokens_out": 3}
    assert store.counters(key) == {}
    assert store.pop_counters(key) == {}


def test_keys_prefix_is_literal(tmp_path):
    store = SqliteStore(tmp_path / "s.sqlite3")
    store.incr("meter:a_b", "requests")
    store.incr("meter:axb", "requests")
    assert store.keys("meter:a_") == ["meter:a_b"]


def test_open_store_picks_the_backend(tmp_path, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("DATAPLANE_STORE_PATH", str(tmp_path / "x" / "d.sqlite3"))
    store = open_store()
    assert isinstance(store, SqliteStore) and (tmp_path / "x" / "d.sqlite3").exists()
    assert isinstance(open_store(redis_url="redis://127.0.0.1:6379/15"), RedisStore)


def test_sqlite_counters_are_safe_across_processes(tmp_path):
    path = tmp_path / "shared.sqlite3"
    SqliteStore(path).close()
    script = (
        "import sys; from serving.store import SqliteStore; s = SqliteStore(sys.argv[1])\n"
        "for _ in range(300): s.incr_many('meter:a/b', {'requests': 1, 'bytes_in': 2})\n"
    )
    procs = [subprocess.Popen([PYTHON, "-c", script, str(path)], cwd=REPO) for _ in range(3)]
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    assert SqliteStore(path).pop_counters("meter:a/b") == {"requests": 900, "bytes_in": 1800}
