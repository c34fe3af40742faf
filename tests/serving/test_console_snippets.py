"""The deployment page's snippets run as shown against real model servers: the Python (httpx) one
for an ONNX model, and curl, Python and the OpenAI SDK for a causal LM. The endpoint is the model
server itself here (the gateway forwards /endpoints/<team>/<name>/<path> to /<path> unchanged; the
browser test runs the ONNX curl snippet through a real gateway)."""

import json
import os
import subprocess
import sys
from types import SimpleNamespace

from deployments.inspection.onnx_model import inspect_onnx
from deployments.snippets import deployment_snippets

ENV = {**os.environ, "CONTROLPLANE_TOKEN": "cpt_unused_by_a_bare_model_server"}


def _run(snippet, *, shell: bool = False) -> str:
    command = ["bash", "-c", snippet.code] if shell else [sys.executable, "-c", snippet.code]
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{snippet.title} failed:\n{snippet.code}\n{done.stderr}"
    return done.stdout


def test_onnx_python_snippet_posts_the_inspected_inputs(onnx_server, onnx_model):
    artifact = SimpleNamespace(format="onnx", name="tiny", inspection=inspect_onnx(onnx_model))
    snippets = {s.key: s for s in deployment_snippets(artifact=artifact, endpoint=onnx_server.url)}
    assert set(snippets) == {"curl", "python"}
    printed = _run(snippets["python"]).splitlines()
    assert [line.split(" [")[0] for line in printed] == ["y", "z"]  # both outputs, batch of one
    assert printed[0].startswith("y [1, 3] [")
    body = json.loads(_run(snippets["curl"], shell=True))
    assert [o["name"] for o in body["outputs"]] == ["y", "z"]


def test_causal_lm_snippets_curl_python_and_openai_sdk(llama_server):
    artifact = SimpleNamespace(
        format="huggingface", name="llama", inspection={"architecture": "LlamaForCausalLM"}
    )
    snippets = {s.key: s for s in deployment_snippets(artifact=artifact, endpoint=llama_server.url)}
    assert set(snippets) == {"curl", "python", "openai"}
    reply = json.loads(_run(snippets["curl"], shell=True))
    assert reply["object"] == "chat.completion" and reply["model"] == "llama"
    assert reply["usage"]["completion_tokens"] > 0
    # Each snippet exits 0 only after a 200 whose choices[0].message.content it read and printed.
    # The text itself may be empty: a random model can emit end-of-sequence first.
    assert _run(snippets["python"]).endswith("\n")
    assert f'base_url="{llama_server.url}/v1"' in snippets["openai"].code
    assert _run(snippets["openai"]).endswith("\n")
