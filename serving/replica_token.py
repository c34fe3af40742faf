"""Replica tokens: only the gateway reaches a replica.

Each replica answers only requests carrying its own token in ``X-Replica-Token``: HMAC-SHA256 of
its identity (the deployment it serves and its URL) under the gateway secret. The gateway derives
it from its route table (:mod:`serving.routing`); the backend that starts the replica derives the
same and gives it to that replica alone (``SERVING_REPLICA_TOKEN``). No replica learns the
secret, nor a token that opens another replica.

Standard library only: the model server and the control plane (which has no aiohttp) import it.
"""

from __future__ import annotations

import hashlib
import hmac

REPLICA_TOKEN_HEADER = "X-Replica-Token"
REPLICA_TOKEN_ENV = "SERVING_REPLICA_TOKEN"


def replica_token(secret: str, route_key: str, url: str) -> str:
    """The token of the replica at ``url`` serving ``route_key`` ("team/deployment"). Only one
    process listens on a URL at a time, and the deployment is part of the identity, so a port
    reused later by another deployment's replica gets another token."""
    identity = f"replica:{route_key} {url.rstrip('/')}"
    return hmac.new(secret.encode(), identity.encode(), hashlib.sha256).hexdigest()
