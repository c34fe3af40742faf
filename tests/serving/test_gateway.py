"""The gateway as a real process in front of real model servers, with a stand-in control plane."""

from __future__ import annotations

import json
import threading
import time

import httpx
import numpy as np
import onnxruntime as ort
import pytest

from serving.metering import meter_key, token_meter_key
from serving.store import ROUTES_KEY
from tests.serving.conftest import SECRET, ModelServer, start_gateway

X = np.arange(8, dtype=np.float32).reshape(2, 4) / 10


def infer_body(x: np.ndarray = X) -> dict:
    return {"inputs": [{"name": "x", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]}


def publish(store, routes: dict) -> None:
    store.set_document(ROUTES_KEY, routes)


# Waits below only bound how long a test may hang on a broken gateway; none is a promise about
# speed. The bounds users rely on (revocation within 5 s, a new route within 1 s) are checked
# without a clock in test_units.py / test_introspect_retry.py.
PATIENCE = 60.0


def wait_for(predicate, timeout: float = PATIENCE, interval: float = 0.05):
    """Poll until predicate() is truthy or the deadline passes; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def sees_routes(gateway, version: int) -> bool:
    """Whether the gateway has loaded the route table at ``version`` (or a later one)."""
    return httpx.get(gateway.url + "/readyz").json().get("routes_version", 0) >= version


def publish_seen(store, gateway, routes: dict) -> None:
    """Publish and wait until the gateway routes by this table."""
    version = store.set_document(ROUTES_KEY, routes)
    assert wait_for(lambda: sees_routes(gateway, version)), gateway.output()


@pytest.fixture(scope="module")
def replicas(onnx_model, workdir):
    servers = [ModelServer(onnx_model, "onnx", "tiny", workdir) for _ in range(2)]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def routed(store, gateway, replicas, controlplane):
    """acme/tiny on both replicas, published and picked up by the gateway."""
    publish(
        store, {"acme/tiny": {"replicas": [r.url for r in replicas], "scaled_to_zero": False, "revision": 1}}
    )
    controlplane.issue("acme-key", team="acme", token_id=11)
    controlplane.issue("beta-key", team="beta", token_id=21)
    controlplane.issue("acme-readonly", team="acme", scopes=("read",), token_id=12)
    url = gateway.url + "/endpoints/acme/tiny/v2/models/tiny/infer"
    headers = {"Authorization": "Bearer acme-key"}
    ok = wait_for(lambda: httpx.post(url, json=infer_body(), headers=headers).status_code == 200)
    assert ok, gateway.output()
    return url


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_infer_through_gateway_equals_onnxruntime(routed, onnx_model):
    response = httpx.post(routed, json=infer_body(), headers=auth("acme-key"))
    assert response.status_code == 200, response.text
    y = response.json()["outputs"][0]
    expected = ort.InferenceSession(str(onnx_model)).run(["y"], {"x": X})[0]
    np.testing.assert_array_equal(np.asarray(y["data"], dtype=np.float32).reshape(y["shape"]), expected)
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "unauthenticated"),
        ({"Authorization": "Basic abc"}, 401, "unauthenticated"),
        (auth("no-such-key"), 401, "invalid_token"),
        (auth("beta-key"), 404, "deployment_not_found"),
        (auth("acme-readonly"), 403, "insufficient_scope"),
    ],
)
def test_authentication_and_authorization(routed, headers, status, code):
    response = httpx.post(routed, json=infer_body(), headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_other_team_gets_the_same_404_as_a_missing_deployment(routed, gateway):
    theirs = httpx.post(routed, json=infer_body(), headers=auth("beta-key"))
    missing = httpx.post(
        gateway.url + "/endpoints/beta/nothing/v2/models/tiny/infer",
        json=infer_body(),
        headers=auth("beta-key"),
    )
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"]["code"] == missing.json()["error"]["code"]


def test_expired_token_is_401(routed, controlplane):
    controlplane.issue("old-key", team="acme", expires_at="2020-01-01T00:00:00Z")
    assert httpx.post(routed, json=infer_body(), headers=auth("old-key")).status_code == 401


def test_revoked_token_is_refused(routed, controlplane):
    # How soon (within 5 s) is the Introspector's cache period: test_introspect_retry.py moves its
    # clock. Here: the running gateway does ask again and then refuses the token.
    token = controlplane.issue("short-lived", team="acme", token_id=13)
    assert httpx.post(routed, json=infer_body(), headers=auth(token)).status_code == 200
    controlplane.revoke(token)
    refused = wait_for(
        lambda: (r := httpx.post(routed, json=infer_body(), headers=auth(token))).status_code == 401 and r
    )
    assert refused, "a revoked token was still accepted"
    assert refused.json()["error"]["code"] == "invalid_token"


def test_introspection_is_cached(routed, controlplane, store_path, workdir):
    # A gateway whose cache outlives the test: every request after the first is answered from it,
    # however slowly the machine runs. The cache period itself is timed with a fake clock in
    # test_introspect_retry.py.
    patient = start_gateway(
        controlplane_url=controlplane.url,
        secret=SECRET,
        store_path=store_path,
        log=workdir / "gateway-long-cache.log",
        extra_env={"GATEWAY_AUTH_CACHE_SECONDS": "3600"},
    )
    try:
        url = patient.url + "/endpoints/acme/tiny/v2/models/tiny/infer"
        token = controlplane.issue("cached-key", team="acme", token_id=14)
        before = controlplane.introspections
        for _ in range(20):
            assert httpx.post(url, json=infer_body(), headers=auth(token)).status_code == 200
        assert controlplane.introspections - before == 1  # one question, not one per request
    finally:
        patient.stop()


def test_unknown_deployment_is_404(routed, gateway, store):
    response = httpx.get(gateway.url + "/endpoints/acme/nope/v2/health/ready", headers=auth("acme-key"))
    assert response.status_code == 404
    assert "'nope'" in response.json()["error"]["message"]
    # A request metered after the 404 lands in the store with the same flush (or a later one)
    # as anything the 404 might have left pending; once it is there, so would a meter for 'nope'.
    later = token_meter_key("acme", "tiny", 11)
    before = store.counters(later).get("requests", 0)
    assert httpx.post(routed, json=infer_body(), headers=auth("acme-key")).status_code == 200
    assert wait_for(lambda: store.counters(later).get("requests", 0) > before), store.counters(later)
    assert not [key for key in store.keys("meter:acme/nope")], "made-up deployments must not create meters"


def test_new_route_is_used(routed, gateway, store, replicas):
    # "Within 1 s" is one poll of the route table: test_units.py checks the poll and its period.
    table = store.get_document(ROUTES_KEY)[1]
    table["acme/fresh"] = {"replicas": [replicas[0].url], "scaled_to_zero": False, "revision": 1}
    publish(store, table)
    url = gateway.url + "/endpoints/acme/fresh/v2/health/ready"
    assert wait_for(lambda: httpx.get(url, headers=auth("acme-key")).status_code == 200)


def test_deployment_without_ready_replica_is_503(routed, gateway, store):
    table = store.get_document(ROUTES_KEY)[1]
    table["acme/down"] = {"replicas": [], "scaled_to_zero": False, "revision": 2}
    publish(store, table)
    url = gateway.url + "/endpoints/acme/down/v2/models/tiny/infer"
    response = wait_for(
        lambda: (r := httpx.post(url, json=infer_body(), headers=auth("acme-key"))).status_code == 503 and r
    )
    assert response, "never answered 503"
    assert response.json()["error"]["code"] == "no_ready_replica"
    assert "acme/down" in response.json()["error"]["message"]
    assert response.headers["retry-after"]


def test_scale_from_zero_wakes_and_holds_the_request(routed, gateway, store, controlplane, replicas):
    table = store.get_document(ROUTES_KEY)[1]
    table["acme/sleepy"] = {"replicas": [], "scaled_to_zero": True, "revision": 1}
    publish_seen(store, gateway, table)

    def wake(team: str, deployment: str) -> None:
        def later() -> None:  # the "replica" comes up while the gateway holds the request
            current = store.get_document(ROUTES_KEY)[1]
            current[f"{team}/{deployment}"] = {
                "replicas": [replicas[1].url],
                "scaled_to_zero": False,
                "revision": 2,
            }
            publish(store, current)

        threading.Thread(target=later, daemon=True).start()

    controlplane.on_wake = wake
    wakes_before = len(controlplane.wakes)
    try:
        url = gateway.url + "/endpoints/acme/sleepy/v2/models/tiny/infer"
        response = httpx.post(url, json=infer_body(), headers=auth("acme-key"), timeout=PATIENCE)
    finally:
        controlplane.on_wake = None
    assert response.status_code == 200, response.text
    assert controlplane.wakes[wakes_before:] == [{"team": "acme", "deployment": "sleepy"}]


def test_cold_start_timeout_is_503_with_retry_after(routed, gateway, store):
    table = store.get_document(ROUTES_KEY)[1]
    table["acme/never"] = {"replicas": [], "scaled_to_zero": True, "revision": 1}
    publish_seen(store, gateway, table)
    url = gateway.url + "/endpoints/acme/never/v2/models/tiny/infer"
    # The gateway holds the request for its cold-start timeout (3 s here), then gives up.
    response = httpx.post(url, json=infer_body(), headers=auth("acme-key"), timeout=PATIENCE)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "cold_start_timeout"
    assert response.headers["retry-after"]


def test_metering_lands_in_the_store(routed, store):
    key, token_key = meter_key("acme", "tiny"), token_meter_key("acme", "tiny", 11)
    token_before = store.counters(token_key)
    for _ in range(5):
        assert httpx.post(routed, json=infer_body(), headers=auth("acme-key")).status_code == 200

    def grew():
        now = store.counters(token_key)
        return now if now.get("requests", 0) - token_before.get("requests", 0) >= 5 else None

    after = wait_for(grew)
    assert after, store.counters(token_key)
    assert after["status_2xx"] - token_before.get("status_2xx", 0) >= 5
    assert after["bytes_in"] > token_before.get("bytes_in", 0)
    assert after["bytes_out"] > token_before.get("bytes_out", 0)
    assert after["latency_ms_le_60000"] - token_before.get("latency_ms_le_60000", 0) >= 5
    assert store.counters(key)["requests"] >= after["requests"]
    assert "meter:acme/tiny" in store.keys("meter:acme/")


def test_gateway_metrics(routed, gateway):
    text = httpx.get(gateway.url + "/metrics").text
    assert 'gateway_requests_total{deployment="tiny",status="200",team="acme"}' in text
    assert "gateway_request_duration_seconds_bucket" in text
    assert 'gateway_auth_denied_total{status="401"}' in text
    assert "gateway_requests_in_flight 0.0" in text  # every proxied request released its replica


def test_killed_replica_is_routed_around(routed, replicas, onnx_model, workdir, store, gateway):
    extra = ModelServer(onnx_model, "onnx", "tiny", workdir)
    table = store.get_document(ROUTES_KEY)[1]
    table["acme/pair"] = {"replicas": [replicas[0].url, extra.url], "scaled_to_zero": False, "revision": 1}
    publish(store, table)
    url = gateway.url + "/endpoints/acme/pair/v2/models/tiny/infer"
    assert wait_for(lambda: httpx.post(url, json=infer_body(), headers=auth("acme-key")).status_code == 200)
    extra.kill()
    try:
        statuses = [
            httpx.post(url, json=infer_body(), headers=auth("acme-key")).status_code for _ in range(20)
        ]
    finally:
        extra.stop()
    assert statuses == [200] * 20
    # Routed around either way: a request reached the dead replica and was retried on the live one
    # (a connect error is counted), or the health probe took it out first (on a loaded machine).
    text = httpx.get(gateway.url + "/metrics").text
    retried = 'gateway_upstream_errors_total{reason="connect"}' in text
    probed_out = "serving.routing.replica_down" in gateway.output()
    assert retried or probed_out


def test_streaming_chat_through_gateway_and_token_metering(gateway, store, llama_server, controlplane):
    table = store.get_document(ROUTES_KEY)[1] or {}
    table["acme/chat"] = {"replicas": [llama_server.url], "scaled_to_zero": False, "revision": 1}
    publish(store, table)
    controlplane.issue("chat-key", team="acme", token_id=31)
    url = gateway.url + "/endpoints/acme/chat/v1/chat/completions"
    body = {
        "model": "llama",
        "messages": [{"role": "user", "content": "hello world"}],
        "max_tokens": 6,
        "temperature": 0,
        "stream": True,
    }
    assert wait_for(
        lambda: (
            httpx.get(gateway.url + "/endpoints/acme/chat/v1/models", headers=auth("chat-key")).status_code
            == 200
        )
    )
    usage = None
    with httpx.stream("POST", url, json=body, headers=auth("chat-key"), timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    assert events[-1] == "data: [DONE]"
    for event in events[:-1]:
        chunk = json.loads(event.removeprefix("data: "))
        usage = chunk.get("usage") or usage
    key = token_meter_key("acme", "chat", 31)
    counters = wait_for(lambda: store.counters(key).get("tokens_out") and store.counters(key))
    assert counters, store.counters(key)
    assert counters["tokens_in"] == usage["prompt_tokens"]
    assert counters["tokens_out"] == usage["completion_tokens"]


def test_client_hanging_up_mid_stream_releases_everything(gateway, store, llama_server, controlplane):
    table = store.get_document(ROUTES_KEY)[1] or {}
    table["acme/chat2"] = {"replicas": [llama_server.url], "scaled_to_zero": False, "revision": 1}
    publish(store, table)
    controlplane.issue("chat2-key", team="acme", token_id=32)
    base = gateway.url + "/endpoints/acme/chat2"
    assert wait_for(lambda: httpx.get(base + "/v1/models", headers=auth("chat2-key")).status_code == 200)
    body = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 200, "stream": True}
    with httpx.stream(
        "POST", base + "/v1/chat/completions", json=body, headers=auth("chat2-key"), timeout=30
    ) as response:
        assert response.status_code == 200
        next(response.iter_lines())  # the first event arrived; now hang up
    in_flight_zero = wait_for(
        lambda: "gateway_requests_in_flight 0.0" in httpx.get(gateway.url + "/metrics").text
    )
    assert in_flight_zero
    idle = wait_for(lambda: "serving_queue_depth 0.0" in httpx.get(llama_server.url + "/metrics").text)
    assert idle, "the replica kept generating for a client that had gone"
