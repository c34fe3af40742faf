"""The model server as a real process serving a tiny ONNX model."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import onnxruntime as ort
import pytest

from tests.serving.conftest import PYTHON, REPO, ModelServer, free_port


def infer_body(x: np.ndarray, **extra) -> dict:
    return {
        "inputs": [{"name": "x", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}],
        **extra,
    }


def outputs_of(response: httpx.Response) -> dict[str, np.ndarray]:
    assert response.status_code == 200, response.text
    return {
        o["name"]: np.asarray(o["data"], dtype=np.float32).reshape(o["shape"])
        for o in response.json()["outputs"]
    }


def test_health_and_metadata(onnx_server):
    assert httpx.get(onnx_server.url + "/v2/health/live").json() == {"live": True}
    assert httpx.get(onnx_server.url + "/v2/health/ready").status_code == 200
    meta = httpx.get(onnx_server.url + "/v2/models/tiny").json()
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
    assert [o["name"] for o in meta["outputs"]] == ["y", "z"]
    assert meta["parameters"]["dynamic_batching"] is True


def test_infer_equals_direct_onnxruntime(onnx_server, onnx_model):
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    expected_y, expected_z = ort.InferenceSession(str(onnx_model)).run(["y", "z"], {"x": x})
    response = httpx.post(onnx_server.url + "/v2/models/tiny/infer", json=infer_body(x, id="req-1"))
    got = outputs_of(response)
    np.testing.assert_array_equal(got["y"], expected_y)
    np.testing.assert_array_equal(got["z"], expected_z)
    assert response.json()["id"] == "req-1"
    assert response.json()["outputs"][0]["datatype"] == "FP32"


def test_requested_outputs_only(onnx_server):
    x = np.ones((1, 4), dtype=np.float32)
    response = httpx.post(
        onnx_server.url + "/v2/models/tiny/infer", json=infer_body(x, outputs=[{"name": "z"}])
    )
    assert [o["name"] for o in response.json()["outputs"]] == ["z"]


def test_batched_results_equal_unbatched(onnx_server, onnx_model):
    """32 concurrent single-row requests are batched by the server; each answer must be the one
    a lone run of that row gives."""
    rng = np.random.default_rng(7)
    rows = [rng.standard_normal((1, 4)).astype(np.float32) for _ in range(32)]
    session = ort.InferenceSession(str(onnx_model))
    expected = [session.run(["y"], {"x": row})[0] for row in rows]

    def batch_count() -> float:
        text = httpx.get(onnx_server.url + "/metrics").text
        return sum(
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith("serving_batch_size_count")
        )

    def sum_rows() -> float:
        text = httpx.get(onnx_server.url + "/metrics").text
        return sum(
            float(line.split()[-1]) for line in text.splitlines() if line.startswith("serving_batch_size_sum")
        )

    runs_before, rows_before = batch_count(), sum_rows()
    with httpx.Client(limits=httpx.Limits(max_connections=32)) as client, ThreadPoolExecutor(32) as pool:
        responses = list(
            pool.map(
                lambda row: client.post(onnx_server.url + "/v2/models/tiny/infer", json=infer_body(row)), rows
            )
        )
    for response, want in zip(responses, expected, strict=True):
        np.testing.assert_allclose(outputs_of(response)["y"], want, rtol=1e-6, atol=1e-6)
    runs, batched_rows = batch_count() - runs_before, sum_rows() - rows_before
    assert batched_rows == 32
    assert runs < 32, "concurrent requests were never combined into a batch"


@pytest.mark.parametrize(
    ("tensor", "fragment"),
    [
        (
            {"name": "q", "shape": [1, 4], "datatype": "FP32", "data": [0, 0, 0, 0]},
            "input 'q' is not an input",
        ),
        (
            {"name": "x", "shape": [1, 4], "datatype": "INT64", "data": [0, 0, 0, 0]},
            "input 'x' has datatype 'INT64'",
        ),
        ({"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [0, 0, 0]}, "input 'x' has shape [1, 3]"),
        ({"name": "x", "shape": [4], "datatype": "FP32", "data": [0, 0, 0, 0]}, "input 'x' has shape [4]"),
        ({"name": "x", "shape": [2, 4], "datatype": "FP32", "data": [0, 0, 0, 0]}, "needs 8 values, got 4"),
        (
            {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": ["a", 0, 0, 0]},
            "input 'x' has data that is not FP32",
        ),
        (
            {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": "nope"},
            "input 'x' needs 'data' as a list",
        ),
    ],
)
def test_bad_tensors_get_400_naming_the_input(onnx_server, tensor, fragment):
    response = httpx.post(onnx_server.url + "/v2/models/tiny/infer", json={"inputs": [tensor]})
    assert response.status_code == 400
    error = response.json()["error"]
    assert fragment in error["message"]
    assert error["field"] == tensor["name"]


def test_missing_input_and_bad_json(onnx_server):
    response = httpx.post(onnx_server.url + "/v2/models/tiny/infer", json={"inputs": []})
    assert response.status_code == 400 and response.json()["error"]["field"] == "inputs"
    response = httpx.post(onnx_server.url + "/v2/models/tiny/infer", content=b"{not json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


def test_unknown_model_name_is_404(onnx_server):
    response = httpx.post(onnx_server.url + "/v2/models/other/infer", json={"inputs": []})
    assert response.status_code == 404
    assert "'other' is not served here" in response.json()["error"]["message"]


def test_metrics_exposition(onnx_server):
    httpx.post(onnx_server.url + "/v2/models/tiny/infer", json=infer_body(np.zeros((1, 4), np.float32)))
    text = httpx.get(onnx_server.url + "/metrics").text
    assert 'serving_requests_total{route="/v2/models/{name}/infer",status="200"}' in text
    assert "serving_request_duration_seconds_bucket" in text
    assert "serving_queue_depth" in text
    assert "serving_batch_size_bucket" in text


def test_health_answers_while_requests_are_in_flight(onnx_server):
    x = np.zeros((64, 4), dtype=np.float32)
    with httpx.Client(limits=httpx.Limits(max_connections=64)) as client, ThreadPoolExecutor(48) as pool:
        futures = [
            pool.submit(client.post, onnx_server.url + "/v2/models/tiny/infer", json=infer_body(x))
            for _ in range(200)
        ]
        health = httpx.get(onnx_server.url + "/v2/health/ready", timeout=5)
        assert health.status_code == 200
        assert all(f.result().status_code == 200 for f in futures)


def test_exits_non_zero_when_the_model_cannot_load(tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"this is not an onnx model")
    for path in (broken, tmp_path / "missing.onnx"):
        result = subprocess.run(
            [
                PYTHON,
                "-m",
                "serving.server",
                "--model",
                str(path),
                "--format",
                "onnx",
                "--name",
                "broken",
                "--port",
                str(free_port()),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            env={"PYTHONPATH": str(REPO), "PATH": ""},
        )
        assert result.returncode != 0
        assert "error: cannot load onnx model 'broken'" in result.stderr
        assert str(path) in result.stderr


def test_unbatched_server_gives_the_same_answers(onnx_model, workdir):
    server = ModelServer(onnx_model, "onnx", "tiny", workdir, "--max-batch-size", "1")
    try:
        meta = httpx.get(server.url + "/v2/models/tiny").json()
        assert meta["parameters"]["dynamic_batching"] is False
        x = np.random.default_rng(3).standard_normal((5, 4)).astype(np.float32)
        expected = ort.InferenceSession(str(onnx_model)).run(["y"], {"x": x})[0]
        got = outputs_of(httpx.post(server.url + "/v2/models/tiny/infer", json=infer_body(x)))
        np.testing.assert_array_equal(got["y"], expected)
    finally:
        server.stop()
