"""The model server with a tiny random Llama (a real process) and tiny BERT encoders (in process)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from prometheus_client import CollectorRegistry
from transformers import AutoTokenizer

from serving.config import server_settings
from serving.server import ModelHost, build_app
from tests.serving.builders import SPECIAL, build_bert

MESSAGES = [{"role": "system", "content": "the quick brown fox"}, {"role": "user", "content": "hello world"}]


@pytest.fixture(scope="module")
def tokenizer(llama_dir):
    return AutoTokenizer.from_pretrained(llama_dir)


def no_special(tokenizer) -> dict:
    """Keep a random model off special tokens, so its text re-tokenizes to the same count."""
    return {str(tokenizer.convert_tokens_to_ids(t)): -100 for t in SPECIAL}


def chat(server, **body) -> httpx.Response:
    return httpx.post(server.url + "/v1/chat/completions", json={"messages": MESSAGES, **body}, timeout=60)


def test_models_list(llama_server):
    assert httpx.get(llama_server.url + "/v1/models").json()["data"][0]["id"] == "llama"


def test_chat_usage_matches_the_tokenizer(llama_server, tokenizer):
    response = chat(
        llama_server, model="llama", max_tokens=7, temperature=0, logit_bias=no_special(tokenizer)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    prompt = tokenizer.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
    text = body["choices"][0]["message"]["content"]
    assert body["usage"]["prompt_tokens"] == len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    assert (
        body["usage"]["completion_tokens"] == len(tokenizer(text, add_special_tokens=False)["input_ids"]) == 7
    )
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + 7
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["object"] == "chat.completion"


def test_chat_stream_is_well_formed_sse_ending_in_done(llama_server, tokenizer):
    params = {"max_tokens": 6, "temperature": 0, "logit_bias": no_special(tokenizer)}
    whole = chat(llama_server, **params).json()
    with httpx.stream(
        "POST",
        llama_server.url + "/v1/chat/completions",
        timeout=60,
        json={"messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}, **params},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    assert raw.endswith("data: [DONE]\n\n")
    events = raw.split("\n\n")[:-1]
    assert all(event.startswith("data: ") for event in events)
    chunks = [json.loads(event[6:]) for event in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert content == whole["choices"][0]["message"]["content"]
    finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert [c["choices"][0]["finish_reason"] for c in finals] == ["length"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == whole["usage"]


def test_stop_string_ends_generation(llama_server, tokenizer):
    params = {"max_tokens": 8, "temperature": 0, "logit_bias": no_special(tokenizer)}
    words = chat(llama_server, **params).json()["choices"][0]["message"]["content"].split()
    stop = words[2]
    body = chat(llama_server, stop=[stop], **params).json()
    text = body["choices"][0]["message"]["content"]
    assert stop not in text and body["choices"][0]["finish_reason"] == "stop"
    assert text == " ".join(words)[: " ".join(words).index(stop)]


def test_completions_and_sampling(llama_server):
    response = httpx.post(
        llama_server.url + "/v1/completions",
        timeout=60,
        json={"prompt": "the cat", "max_tokens": 4, "temperature": 0.8, "top_p": 0.9, "seed": 5},
    )
    again = httpx.post(
        llama_server.url + "/v1/completions",
        timeout=60,
        json={"prompt": "the cat", "max_tokens": 4, "temperature": 0.8, "top_p": 0.9, "seed": 5},
    )
    assert response.status_code == 200
    assert response.json()["choices"][0]["text"] == again.json()["choices"][0]["text"]
    assert response.json()["usage"]["prompt_tokens"] == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
        ({"messages": MESSAGES, "max_tokens": 0}, "max_tokens"),
        ({"messages": MESSAGES, "max_tokens": 100000}, "max_tokens"),
        ({"messages": MESSAGES, "temperature": 3}, "temperature"),
        ({"messages": MESSAGES, "top_p": "x"}, "top_p"),
        ({"messages": MESSAGES, "stop": [1]}, "stop"),
        ({"messages": MESSAGES, "n": 2}, "n"),
        ({"messages": MESSAGES, "logit_bias": {"99999": 1}}, "logit_bias"),
    ],
)
def test_bad_requests_name_the_field(llama_server, body, field):
    response = httpx.post(llama_server.url + "/v1/chat/completions", json=body, timeout=60)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["field"] == field and error["message"]


def test_wrong_model_and_wrong_task(llama_server):
    response = chat(llama_server, model="gpt-4")
    assert response.status_code == 404 and response.json()["error"]["field"] == "model"
    response = httpx.post(llama_server.url + "/v1/embeddings", json={"input": "hello"})
    assert response.status_code == 404 and "text-generation" in response.json()["error"]["message"]


def test_token_metrics(llama_server):
    chat(llama_server, max_tokens=2)
    text = httpx.get(llama_server.url + "/metrics").text
    assert 'serving_tokens_total{direction="out"}' in text
    assert 'serving_requests_total{route="/v1/chat/completions",status="200"}' in text


async def _serve_in_process(path, name: str):
    """Load a model into an app in this process and return an ASGI client for it."""
    registry = CollectorRegistry()
    host = ModelHost(
        name=name,
        fmt="huggingface",
        path=str(path),
        max_batch_size=1,
        batch_window_ms=0,
        settings=server_settings(),
        registry=registry,
    )
    app = build_app(host, registry)
    host._loaded(await asyncio.to_thread(host.load_model))
    return host, httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://server")


@pytest.mark.asyncio
async def test_embeddings(workdir):
    directory = build_bert(workdir / "bert")
    host, client = await _serve_in_process(directory, "enc")
    async with client:
        response = await client.post(
            "/v1/embeddings", json={"input": ["hello world", "the cat"], "model": "enc"}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert [d["index"] for d in body["data"]] == [0, 1]
        vector = body["data"][0]["embedding"]
        assert len(vector) == 32 and abs(sum(v * v for v in vector) - 1) < 1e-4
        assert body["usage"]["prompt_tokens"] == 4
        bad = await client.post("/v1/embeddings", json={"input": [1, 2]})
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "input"
    await host.stop()


@pytest.mark.asyncio
async def test_classifications(workdir):
    directory = build_bert(workdir / "cls", classifier=True)
    host, client = await _serve_in_process(directory, "cls")
    async with client:
        response = await client.post("/v1/classifications", json={"input": "hello world"})
        assert response.status_code == 200, response.text
        result = response.json()["data"][0]
        assert result["label"] in ("negative", "positive")
        assert abs(sum(result["scores"].values()) - 1) < 1e-5
    await host.stop()
