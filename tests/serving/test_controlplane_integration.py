"""The gateway against the real control plane: Django's token introspection on a live server,
API tokens made by the tenancy services, a real model server behind it."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from controlplane.tenancy.permissions import Scope
from controlplane.tenancy.services import api_token_revoke
from serving.store import ROUTES_KEY, SqliteStore
from tests.conftest import wait_until
from tests.serving.conftest import start_gateway

pytestmark = pytest.mark.django_db(transaction=True)

X = np.ones((1, 4), dtype=np.float32)
BODY = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": X.ravel().tolist()}]}


@pytest.fixture
def real_gateway(live_server, settings, tmp_path, onnx_server, team):
    store_path = tmp_path / "dataplane.sqlite3"
    store = SqliteStore(store_path)
    store.set_document(
        ROUTES_KEY,
        {f"{team.slug}/tiny": {"replicas": [onnx_server.url], "scaled_to_zero": False, "revision": 1}},
    )
    process = start_gateway(
        controlplane_url=live_server.url,
        secret=settings.GATEWAY_SHARED_SECRET,
        store_path=store_path,
        log=tmp_path / "gateway.log",
    )
    yield process
    process.stop()
    store.close()


def test_tokens_from_the_control_plane_open_and_close_the_endpoint(real_gateway, team, members, make_token):
    url = f"{real_gateway.url}/endpoints/{team.slug}/tiny/v2/models/tiny/infer"
    token, invoke = make_token(members["deployer"], team, scopes=[Scope.READ, Scope.INVOKE])
    _, read_only = make_token(members["viewer"], team, scopes=[Scope.READ])
    beta = members["outsider"].memberships.get().team
    _, other_team = make_token(members["outsider"], beta, scopes=[Scope.INVOKE])

    def status(raw: str) -> int:
        return httpx.post(url, json=BODY, headers={"Authorization": f"Bearer {raw}"}, timeout=10).status_code

    assert status(invoke) == 200
    assert status(read_only) == 403
    assert status(other_team) == 404
    assert status("not-a-token") == 401

    api_token_revoke(token=token, actor=members["owner"])
    # The gateway asks again once its cache runs out (how soon: test_gateway_bounds.py, with a
    # fake clock); the timeout only stops a broken gateway from hanging the test.
    assert wait_until(lambda: status(invoke) == 401, timeout=60), "a revoked token was still accepted"
