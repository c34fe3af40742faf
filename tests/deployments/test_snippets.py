"""Snippet bodies: ONNX types map to V2 datatypes, symbolic dimensions become 1, large inputs are
generated rather than written out, and the token is always the environment variable."""

import json
import subprocess
from types import SimpleNamespace

from deployments.snippets import deployment_snippets, v2_body, v2_inputs

IMAGE_MODEL = {
    "inputs": [
        {"name": "pixel_values", "datatype": "FLOAT", "shape": [None, 3, 224, 224]},
        {"name": "input_ids", "datatype": "INT64", "shape": ["batch", "sequence"]},
        {"name": "mask", "datatype": "BOOL", "shape": [2]},
        {"name": "half", "datatype": "FLOAT16", "shape": [1]},
    ]
}


def test_onnx_types_and_symbolic_dimensions():
    body = v2_body(v2_inputs(IMAGE_MODEL))["inputs"]
    assert [(i["name"], i["datatype"], i["shape"]) for i in body] == [
        ("pixel_values", "FP32", [1, 3, 224, 224]),
        ("input_ids", "INT64", [1, 1]),
        ("mask", "BOOL", [2]),
        ("half", "FP16", [1]),
    ]
    assert body[1]["data"] == [0] and body[2]["data"] == [False, False] and body[3]["data"] == [0.0]


def test_a_large_input_is_generated_by_a_one_line_program():
    artifact = SimpleNamespace(format="onnx", name="vit", inspection=IMAGE_MODEL)
    curl = next(
        s
        for s in deployment_snippets(artifact=artifact, endpoint="http://gw/endpoints/t/vit")
        if s.key == "curl"
    ).code
    assert len(curl) < 1000 and "$CONTROLPLANE_TOKEN" in curl
    program, pipe = curl.split(" |\n", 1)
    assert pipe.startswith("curl -sS -X POST http://gw/endpoints/t/vit/v2/models/vit/infer")
    generated = json.loads(
        subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True).stdout
    )
    assert generated == v2_body(v2_inputs(IMAGE_MODEL))


def test_encoders_and_classifiers_get_their_own_routes():
    def keys_and_url(architecture):
        artifact = SimpleNamespace(format="huggingface", name="m", inspection={"architecture": architecture})
        snippets = deployment_snippets(artifact=artifact, endpoint="http://gw/e")
        return [s.key for s in snippets], snippets[0].code.split()[4]

    assert keys_and_url("BertForSequenceClassification") == (
        ["curl", "python"],
        "http://gw/e/v1/classifications",
    )
    assert keys_and_url("BertModel") == (["curl", "python"], "http://gw/e/v1/embeddings")
    assert keys_and_url("Qwen2ForCausalLM") == (
        ["curl", "python", "openai"],
        "http://gw/e/v1/chat/completions",
    )
