"""Pure pieces: V2 parsing, the batcher, introspection answers, usage sniffing, routing."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from serving.auth import authorize, parse_introspection
from serving.batching import DynamicBatcher
from serving.errors import ApiError
from serving.metering import Meter, UsageSniffer
from serving.protocols.v2 import TensorSpec, parse_infer_request
from serving.routing import RouteTable

INPUTS = {"ids": TensorSpec("ids", "INT32", (-1, 3)), "flag": TensorSpec("flag", "BOOL", (-1,))}
OUTPUTS = {"out": TensorSpec("out", "FP32", (-1,))}


def request(**tensors) -> dict:
    return {"inputs": [{"name": n, **t} for n, t in tensors.items()]}


def test_v2_parses_typed_tensors():
    parsed = parse_infer_request(
        request(
            ids={"shape": [2, 3], "datatype": "INT32", "data": [[1, 2, 3], [4, 5, 6]]},
            flag={"shape": [2], "datatype": "BOOL", "data": [True, False]},
        ),
        INPUTS,
        OUTPUTS,
    )
    assert parsed.inputs["ids"].dtype == np.int32 and parsed.inputs["ids"].shape == (2, 3)
    assert parsed.inputs["flag"].tolist() == [True, False]


@pytest.mark.parametrize(
    ("ids", "fragment"),
    [
        ({"shape": [1, 3], "datatype": "INT32", "data": [1.5, 2, 3]}, "not INT32"),
        ({"shape": [1, 3], "datatype": "INT32", "data": [1, 2, 2**40]}, "outside the range of INT32"),
        ({"shape": [1, 3], "datatype": "INT32", "data": [[1, 2], [3]]}, "ragged"),
        ({"shape": [1, -3], "datatype": "INT32", "data": [1, 2, 3]}, "non-negative integers"),
    ],
)
def test_v2_rejects_with_the_input_named(ids, fragment):
    with pytest.raises(ApiError) as caught:
        parse_infer_request(
            request(ids=ids, flag={"shape": [1], "datatype": "BOOL", "data": [True]}), INPUTS, OUTPUTS
        )
    assert caught.value.status == 400 and caught.value.field == "ids" and fragment in caught.value.message


def test_v2_missing_input_and_unknown_output():
    with pytest.raises(ApiError, match="input 'flag' is missing"):
        parse_infer_request(
            request(ids={"shape": [1, 3], "datatype": "INT32", "data": [1, 2, 3]}), INPUTS, OUTPUTS
        )
    with pytest.raises(ApiError, match="output 'nope'"):
        parse_infer_request(
            {
                **request(
                    ids={"shape": [1, 3], "datatype": "INT32", "data": [1, 2, 3]},
                    flag={"shape": [1], "datatype": "BOOL", "data": [True]},
                ),
                "outputs": [{"name": "nope"}],
            },
            INPUTS,
            OUTPUTS,
        )


@pytest.mark.asyncio
async def test_batcher_combines_and_splits():
    calls = []

    def run(feeds):
        calls.append(feeds["x"].shape[0])
        return {"double": feeds["x"] * 2, "total": feeds["x"].sum(axis=1)}

    with ThreadPoolExecutor(2) as pool:
        batcher = DynamicBatcher(run, executor=pool, max_batch_size=8, window_s=0.05)
        batcher.start()
        rows = [np.full((1 + i % 2, 3), i, dtype=np.float32) for i in range(10)]
        results = await asyncio.gather(*(batcher.submit({"x": r}) for r in rows))
        await batcher.stop()
    for row, result in zip(rows, results, strict=True):
        np.testing.assert_array_equal(result["double"], row * 2)
        np.testing.assert_array_equal(result["total"], row.sum(axis=1))
    assert sum(calls) == sum(r.shape[0] for r in rows)
    assert max(calls) <= 8 and len(calls) < len(rows)


@pytest.mark.asyncio
async def test_batcher_keeps_different_shapes_apart():
    def run(feeds):
        return {"y": feeds["x"] + 1}

    with ThreadPoolExecutor(1) as pool:
        batcher = DynamicBatcher(run, executor=pool, max_batch_size=32, window_s=0.02)
        batcher.start()
        a, b = np.zeros((1, 2), np.float32), np.zeros((1, 5), np.float32)
        ra, rb = await asyncio.gather(batcher.submit({"x": a}), batcher.submit({"x": b}))
        await batcher.stop()
    assert ra["y"].shape == (1, 2) and rb["y"].shape == (1, 5)


def test_introspection_answers():
    info = parse_introspection(
        {
            "active": True,
            "token_id": 3,
            "team": "acme",
            "scopes": ["invoke"],
            "expires_at": "2099-01-01T00:00:00+00:00",
        }
    )
    authorize(info, "acme", "chat")
    assert not parse_introspection({"active": False}).active
    assert not parse_introspection({"active": True}).active  # malformed: no team
    with pytest.raises(ApiError) as caught:
        authorize(info, "beta", "chat")
    assert caught.value.status == 404


def test_usage_sniffer_reads_sse_across_chunk_boundaries():
    stream = (
        b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n'
        b'data: {"choices":[{"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":2}}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":3}}\n\ndata: [DONE]\n\n'
    )
    sniffer = UsageSniffer("text/event-stream; charset=utf-8")
    for i in range(0, len(stream), 7):
        sniffer.feed(stream[i : i + 7])
    assert sniffer.finish() == (5, 3)  # the last usage wins, never the sum
    json_sniffer = UsageSniffer("application/json")
    json_sniffer.feed(b'{"usage": {"prompt_tokens": 4, "completion_tokens": 9}}')
    assert json_sniffer.finish() == (4, 9)


def test_meter_histogram_is_cumulative():
    class Recorder:
        def __init__(self):
            self.data = {}

        def incr_many(self, key, amounts):
            self.data[key] = amounts

    store = Recorder()
    meter = Meter(store, interval=1)
    meter.record(team="a", deployment="b", token_id=1, status=502, latency_s=0.03, bytes_in=10, bytes_out=20)
    asyncio.run(meter.flush())
    fields = store.data["meter:a/b"]
    assert fields["errors"] == 1 and fields["status_5xx"] == 1
    assert (
        "latency_ms_le_25" not in fields
        and fields["latency_ms_le_50"] == 1
        and fields["latency_ms_le_60000"] == 1
    )
    assert store.data["meter:a/b:token:1"] == fields


def test_pick_prefers_fewest_outstanding_and_skips_unhealthy():
    table = RouteTable()
    table.load(1, {"t/d": {"replicas": ["http://a", "http://b", "http://c"]}, "bad": {"replicas": []}})
    route = table.get("t", "d")
    a, b, c = route.replicas
    a.outstanding, b.outstanding, c.outstanding = 3, 1, 2
    assert table.pick(route) is b
    table.mark_down(b)
    assert table.pick(route) is c
    assert table.pick(route, exclude=(c,)) is a
    table.load(2, {"t/d": {"replicas": ["http://b"]}})
    assert table.get("t", "d").replicas[0] is b and not b.healthy  # state survives a reload
    assert table.get("bad", "") is None


@pytest.mark.asyncio
async def test_health_checker_takes_replicas_out_and_back(onnx_server):
    import aiohttp

    from serving.routing import HealthChecker
    from tests.serving.conftest import free_port

    table = RouteTable()
    dead = f"http://127.0.0.1:{free_port()}"
    table.load(1, {"t/d": {"replicas": [onnx_server.url, dead]}})
    live_replica, dead_replica = table.get("t", "d").replicas
    async with aiohttp.ClientSession() as session:
        checker = HealthChecker(table, session, interval=0.5)
        await asyncio.gather(*(checker.probe(r) for r in table.replicas()))
        assert live_replica.healthy and not dead_replica.healthy
        dead_replica.url = onnx_server.url  # the replica "comes back"
        await checker.probe(dead_replica)
        assert dead_replica.healthy


def test_shared_secret_comes_from_env_or_the_control_planes_file(tmp_path, monkeypatch):
    from serving.config import gateway_shared_secret

    monkeypatch.setenv("CONTROLPLANE_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("GATEWAY_SHARED_SECRET", "from-env")
    assert gateway_shared_secret() == "from-env"
    monkeypatch.delenv("GATEWAY_SHARED_SECRET")
    (tmp_path / "gateway-secret").write_text("made-by-the-control-plane\n")
    assert gateway_shared_secret() == "made-by-the-control-plane"
    (tmp_path / "gateway-secret").unlink()
    made = gateway_shared_secret()  # the gateway started first: it makes the file
    assert len(made) > 40 and (tmp_path / "gateway-secret").read_text() == made
    assert gateway_shared_secret() == made
