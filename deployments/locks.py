"""Named locks across processes: Redis when REDIS_URL is set, file locks under var/ otherwise.
A lock has a TTL (Redis) so a killed worker's lock expires; file locks die with their process."""

import contextlib
import fcntl
import os
import uuid
from collections.abc import Iterator

from django.conf import settings

_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


@contextlib.contextmanager
def named_lock(name: str, *, ttl: float, blocking: float = 0) -> Iterator[bool]:
    """Yields True when held. `blocking` seconds to wait for it; 0 means try once."""
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        token = uuid.uuid4().hex
        lock = client.lock(f"lock:{name}", timeout=ttl, blocking=blocking > 0, blocking_timeout=blocking or None)
        held = lock.acquire(token=token)
        try:
            yield bool(held)
        finally:
            if held:
                client.eval(_RELEASE, 1, f"lock:{name}", token)
        return
    folder = settings.VAR_DIR / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"{name.replace('/', '_')}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = True
        except BlockingIOError:
            held = False
        yield held
    finally:
        os.close(fd)


def deployment_lock(deployment_id: int, *, ttl: float):
    return named_lock(f"deployment:{deployment_id}", ttl=ttl)
