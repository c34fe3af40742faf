"""OpenAI-compatible routes for Hugging Face models.

``/v1/models``, ``/v1/completions`` and ``/v1/chat/completions`` for causal LMs (with
``stream: true`` as server-sent events ending in ``data: [DONE]``), ``/v1/embeddings`` for
encoders, and ``/v1/classifications`` for sequence classifiers (our own JSON route:
``{"input": str | [str]}`` -> ``{"data": [{"index", "label", "score", "scores"}], "usage"}``).

Every response carries ``usage``. Streams put it on the chunk that carries ``finish_reason`` as
well as, when the client asks with ``stream_options.include_usage``, on OpenAI's trailing chunk
with empty ``choices``: the gateway meters tokens from whichever it sees last.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from serving.errors import ApiError, error_body
from serving.runtimes.hf import DEFAULT_MAX_TOKENS, Generation, SamplingParams

TASKS = {"generate": "text-generation", "embed": "embedding", "classify": "classification"}
ROLES = {"system", "user", "assistant", "tool", "developer"}


def _bad(message: str, field: str) -> ApiError:
    return ApiError(400, "invalid_request", message, field=field)


async def _json_body(request: Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        raise _bad("request body is not valid JSON", "body") from None
    if not isinstance(body, dict):
        raise _bad("request body must be a JSON object", "body")
    return body


def _number(body: dict, name: str, default: float, low: float, high: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _bad(f"'{name}' must be a number between {low} and {high}, got {value!r}", name)
    return float(value)


def sampling_params(body: dict, *, context_left: int, vocab_size: int) -> SamplingParams:
    """Read max_tokens, temperature, top_p, stop, seed, logit_bias and n from a request body."""
    field = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    max_tokens = body.get(field)
    if max_tokens is None:
        max_tokens = min(DEFAULT_MAX_TOKENS, context_left)
    elif isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise _bad(f"'{field}' must be a positive integer, got {max_tokens!r}", field)
    if max_tokens > context_left:
        raise _bad(
            f"'{field}' is {max_tokens} but only {context_left} tokens of context are left after the prompt",
            field,
        )
    n = body.get("n", 1)
    if n != 1:
        raise _bad("only 'n': 1 is supported", "n")
    stop = body.get("stop")
    if stop is None:
        stop = []
    elif isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) and s for s in stop):
        raise _bad("'stop' must be a non-empty string or a list of at most 4 of them", "stop")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _bad("'seed' must be an integer", "seed")
    logit_bias: dict[int, float] = {}
    raw_bias = body.get("logit_bias") or {}
    if not isinstance(raw_bias, dict):
        raise _bad("'logit_bias' must map token ids to numbers between -100 and 100", "logit_bias")
    for key, value in raw_bias.items():
        try:
            token_id = int(key)
        except (TypeError, ValueError):
            raise _bad(f"'logit_bias' key {key!r} is not a token id", "logit_bias") from None
        if not 0 <= token_id < vocab_size:
            raise _bad(
                f"'logit_bias' key {token_id} is outside the vocabulary (0..{vocab_size - 1})", "logit_bias"
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or not -100 <= value <= 100:
            raise _bad(f"'logit_bias' value for {key} must be between -100 and 100", "logit_bias")
        logit_bias[token_id] = float(value)
    return SamplingParams(
        max_tokens=max_tokens,
        temperature=_number(body, "temperature", 1.0, 0.0, 2.0),
        top_p=_number(body, "top_p", 1.0, 0.0, 1.0) or 1e-6,  # top_p 0 means "the single best token"
        stop=stop,
        seed=seed,
        logit_bias=logit_bias,
    )


def _messages(body: dict) -> list[dict]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("'messages' must be a non-empty list", "messages")
    clean = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise _bad(f"messages[{i}] needs a 'role' among {sorted(ROLES)}", f"messages[{i}].role")
        content = message.get("content")
        if isinstance(content, list):  # content parts: keep the text ones
            if not all(
                isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                for p in content
            ):
                raise _bad(f"messages[{i}].content parts must all be text", f"messages[{i}].content")
            content = "".join(p["text"] for p in content)
        if not isinstance(content, str):
            raise _bad(f"messages[{i}].content must be a string", f"messages[{i}].content")
        clean.append({"role": message["role"], "content": content})
    return clean


def _texts(body: dict) -> list[str]:
    value = body.get("input")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise _bad(
            "'input' must be a non-empty string or a list of non-empty strings (token arrays are not "
            "supported)",
            "input",
        )
    return value


def _usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _sse(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


class _Generator:
    """Runs one generation in the model's worker thread and hands its text to the event loop."""

    def __init__(self, host, prompt_ids: list[int], params: SamplingParams) -> None:
        self.host, self.prompt_ids, self.params = host, prompt_ids, params
        self.cancelled = threading.Event()

    async def complete(self) -> Generation:
        return await self.host.run(self._run, None)

    async def stream(self):
        """Yield text pieces, then the finished :class:`Generation`."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def emit(piece: str) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, piece)

        job = asyncio.ensure_future(self.host.run(self._run, emit))
        job.add_done_callback(lambda _: loop.call_soon(queue.put_nowait, None))
        try:
            while True:
                piece = await queue.get()
                if piece is None:
                    break
                yield piece
            yield await job
        finally:
            self.cancelled.set()  # the client hung up (or we are done): stop sampling

    def _run(self, emit) -> Generation:
        result = self.host.model.generate(self.prompt_ids, self.params, emit=emit, cancelled=self.cancelled)
        # Counted here, in the worker, so a generation cut short by a hung-up client still counts
        # the tokens it produced (prometheus counters are thread-safe).
        self.host.tokens.labels(direction="in").inc(len(self.prompt_ids))
        self.host.tokens.labels(direction="out").inc(result.completion_tokens)
        return result


def _model_of(host, kind: str, route: str):
    host.require_ready()
    model = host.model
    if model.kind != kind:
        raise ApiError(
            404,
            "unsupported",
            f"model {host.name!r} is a {TASKS[model.kind]} model; {route} needs a {TASKS[kind]} model",
        )
    return model


def _check_model_field(host, body: dict) -> None:
    name = body.get("model")
    if name is not None and name != host.name:
        raise ApiError(
            404,
            "model_not_found",
            f"model {name!r} is not served here; this server serves {host.name!r}",
            field="model",
        )


def _prompt_ids(host, model, body: dict, *, chat: bool) -> list[int]:
    """The prompt's token ids: the chat template over `messages`, or the tokenized `prompt`."""
    if chat:
        messages = _messages(body)
        if not model.has_chat_template:
            raise ApiError(
                400,
                "no_chat_template",
                f"model {host.name!r} has no chat template; use /v1/completions",
                field="messages",
            )
        return model.chat_prompt_ids(messages)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise _bad("'prompt' must be a non-empty string", "prompt")
    return model.prompt_ids(prompt)


def _stream_options(body: dict) -> tuple[bool, dict]:
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("'stream' must be true or false", "stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise _bad("'stream_options' must be an object", "stream_options")
    return stream, options


class _Completion:
    """The answer to one (chat) completion request: its id, and the shape of its choices, whole
    or as server-sent chunks."""

    def __init__(self, model_name: str, *, chat: bool, stream: bool, prompt_tokens: int) -> None:
        self.model_name, self.chat, self.stream, self.prompt_tokens = model_name, chat, stream, prompt_tokens
        self.ident = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        self.created = int(time.time())

    def choice(self, text: str | None, finish: str | None, *, first: bool = False) -> dict:
        if not self.chat:
            return {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
        if not self.stream:
            return {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": finish,
            }
        delta = {} if text is None else {"content": text}
        if first:
            delta["role"] = "assistant"
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

    def response(self, result: Generation) -> JSONResponse:
        return JSONResponse(
            {
                "id": self.ident,
                "object": "chat.completion" if self.chat else "text_completion",
                "created": self.created,
                "model": self.model_name,
                "choices": [self.choice(result.text, result.finish_reason)],
                "usage": _usage(self.prompt_tokens, result.completion_tokens),
            }
        )

    def chunk(self, choices: list, **extra) -> bytes:
        return _sse(
            {
                "id": self.ident,
                "object": "chat.completion.chunk" if self.chat else "text_completion",
                "created": self.created,
                "model": self.model_name,
                "choices": choices,
                **extra,
            }
        )

    async def events(self, generator: _Generator, *, include_usage: bool):
        if self.chat:
            yield self.chunk([self.choice("", None, first=True)])
        try:
            async for item in generator.stream():
                if isinstance(item, str):
                    yield self.chunk([self.choice(item, None)])
                    continue
                usage = _usage(self.prompt_tokens, item.completion_tokens)
                yield self.chunk([self.choice(None, item.finish_reason)], usage=usage)
                if include_usage:
                    yield self.chunk([], usage=usage)
        except ApiError as exc:
            yield _sse(error_body(exc.code, exc.message, exc.field))
        except Exception as exc:  # the stream has started: report in-band, then close properly
            yield _sse(error_body("generation_failed", f"{type(exc).__name__}: {exc}"))
        yield b"data: [DONE]\n\n"


def routes(host) -> list[Route]:
    def count(prompt: int, completion: int) -> None:
        host.tokens.labels(direction="in").inc(prompt)
        host.tokens.labels(direction="out").inc(completion)

    async def list_models(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"id": host.name, "object": "model", "created": int(time.time()), "owned_by": "serving"}
                ],
            }
        )

    async def generate(request: Request, *, chat: bool):
        model = _model_of(host, "generate", "/v1/chat/completions" if chat else "/v1/completions")
        body = await _json_body(request)
        _check_model_field(host, body)
        prompt_ids = _prompt_ids(host, model, body, chat=chat)
        context_left = model.context_length - len(prompt_ids)
        if context_left < 1:
            raise _bad(
                f"the prompt is {len(prompt_ids)} tokens; the model's context is {model.context_length}",
                "messages" if chat else "prompt",
            )
        params = sampling_params(body, context_left=context_left, vocab_size=model.vocab_size)
        stream, options = _stream_options(body)
        completion = _Completion(host.name, chat=chat, stream=stream, prompt_tokens=len(prompt_ids))
        generator = _Generator(host, prompt_ids, params)
        if not stream:
            return completion.response(await generator.complete())
        return StreamingResponse(
            completion.events(generator, include_usage=bool(options.get("include_usage"))),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def chat_completions(request: Request):
        return await generate(request, chat=True)

    async def completions(request: Request):
        return await generate(request, chat=False)

    async def embeddings(request: Request) -> JSONResponse:
        model = _model_of(host, "embed", "/v1/embeddings")
        body = await _json_body(request)
        _check_model_field(host, body)
        texts = _texts(body)
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            raise _bad("'encoding_format' must be 'float' or 'base64'", "encoding_format")
        vectors, tokens = await host.run(model.embed, texts)
        count(tokens, 0)

        def encode(vector: list[float]):
            if encoding == "float":
                return vector
            return base64.b64encode(np.asarray(vector, dtype=np.float32).tobytes()).decode()

        return JSONResponse(
            {
                "object": "list",
                "model": host.name,
                "data": [
                    {"object": "embedding", "index": i, "embedding": encode(v)} for i, v in enumerate(vectors)
                ],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def classifications(request: Request) -> JSONResponse:
        model = _model_of(host, "classify", "/v1/classifications")
        body = await _json_body(request)
        _check_model_field(host, body)
        results, tokens = await host.run(model.classify, _texts(body))
        count(tokens, 0)
        return JSONResponse(
            {
                "object": "list",
                "model": host.name,
                "data": [{"index": i, **result} for i, result in enumerate(results)],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    return [
        Route("/v1/models", list_models),
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/v1/classifications", classifications, methods=["POST"]),
    ]
