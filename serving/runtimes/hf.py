"""Hugging Face models through transformers, from a local ``save_pretrained`` directory.

The architecture named in ``config.json`` decides what the model serves:

* ``*ForCausalLM`` -> ``generate``: text generation for ``/v1/completions`` and
  ``/v1/chat/completions`` (chat prompts through the tokenizer's chat template);
* ``*ForSequenceClassification`` -> ``classify``: labels and scores for ``/v1/classifications``;
* anything else that ``AutoModel`` loads (BERT-like encoders) -> ``embed``: mean-pooled,
  L2-normalised vectors for ``/v1/embeddings``.

Nothing is downloaded: loading is ``local_files_only`` (air-gapped hosts are a target). Model
folders are untrusted, so code in them is never imported (``trust_remote_code=False``) unless
the control plane sets ``SERVING_TRUST_REMOTE_CODE=1``, which it does only for a model that
needs it and whose team a platform admin allowed code files.
Generation is a plain token loop with a KV cache rather than ``model.generate`` so the server
can stream each piece of text, apply stop strings exactly, honour ``logit_bias`` and stop when a
streaming client hangs up. All methods are blocking and meant for one worker thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Never reach for a model hub: weights come from the path we were given.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from transformers import (  # noqa: E402
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)

DEFAULT_MAX_TOKENS = 256


@dataclass(slots=True)
class SamplingParams:
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 1.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    logit_bias: dict[int, float] = field(default_factory=dict)
    seed: int | None = None


@dataclass(slots=True)
class Generation:
    text: str
    completion_tokens: int
    finish_reason: str  # "stop" (end of sequence or a stop string), "length", or "cancelled"


def pick_device(device: str) -> str:
    if device in ("auto", "cuda") and torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise RuntimeError("SERVING_DEVICE=cuda but torch sees no CUDA device")
    return "cpu"


def trust_remote_code_allowed() -> bool:
    """Whether the platform allowed this replica's model to run its own code (see module docstring)."""
    return os.environ.get("SERVING_TRUST_REMOTE_CODE", "") == "1"


class HfModel:
    platform = "transformers"

    def __init__(
        self, path: str | Path, *, device: str = "auto", trust_remote_code: bool | None = None
    ) -> None:
        path = Path(path)
        if not (path / "config.json").is_file():
            raise RuntimeError(f"{path} is not a Hugging Face model directory (no config.json)")
        self.device = pick_device(device)
        trust = trust_remote_code_allowed() if trust_remote_code is None else trust_remote_code
        self.trust_remote_code = trust
        config = AutoConfig.from_pretrained(path, local_files_only=True, trust_remote_code=trust)
        architectures = config.architectures or []
        # Half precision matmuls are slow or missing on CPU; keep the checkpoint's dtype on GPU only.
        dtype = "auto" if self.device == "cuda" else torch.float32
        if any(a.endswith("ForCausalLM") for a in architectures):
            self.kind, loader = "generate", AutoModelForCausalLM
        elif any(a.endswith("ForSequenceClassification") for a in architectures):
            self.kind, loader = "classify", AutoModelForSequenceClassification
        else:
            self.kind, loader = "embed", AutoModel
        self.model = (
            loader.from_pretrained(path, local_files_only=True, dtype=dtype, trust_remote_code=trust)
            .to(self.device)
            .eval()
        )
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=trust)
        self.config = config
        self.vocab_size = int(self.model.config.vocab_size)
        self.context_length = int(getattr(config, "max_position_embeddings", 0) or 0) or 4096
        self.eos_ids = self._eos_ids()

    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        for source in (getattr(self.model, "generation_config", None), self.config, self.tokenizer):
            value = getattr(source, "eos_token_id", None)
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, list | tuple):
                ids.update(v for v in value if isinstance(v, int))
        return ids

    # -- prompts ---------------------------------------------------------------------------

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def chat_prompt_ids(self, messages: list[dict]) -> list[int]:
        """Render messages with the model's chat template and tokenize the result. The template
        already holds the special tokens it wants, so none are added on top."""
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def prompt_ids(self, prompt: str) -> list[int]:
        return self.tokenizer(prompt)["input_ids"]

    # -- generation ------------------------------------------------------------------------

    @torch.inference_mode()
    def generate(
        self,
        prompt_ids: list[int],
        params: SamplingParams,
        *,
        emit: Callable[[str], None] | None = None,
        cancelled: threading.Event | None = None,
    ) -> Generation:
        """Sample up to ``params.max_tokens`` tokens after ``prompt_ids``.

        ``emit`` receives the text as it becomes final: text that could still turn out to be
        the start of a stop string, or half of a multi-byte character, is held back.
        """
        generator = None
        if params.seed is not None:
            generator = torch.Generator(device=self.device).manual_seed(params.seed)
        bias = None
        if params.logit_bias:
            bias = torch.zeros(self.vocab_size, device=self.device)
            for token_id, value in params.logit_bias.items():
                bias[token_id] = value
        hold_back = max((len(s) for s in params.stop), default=1) - 1

        generated: list[int] = []
        emitted = 0
        text = ""
        finish = "length"
        cache = None
        step_input = torch.tensor([prompt_ids], device=self.device)
        for _ in range(params.max_tokens):
            if cancelled is not None and cancelled.is_set():
                finish = "cancelled"
                break
            out = self.model(input_ids=step_input, past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            logits = out.logits[0, -1, :].float()
            if bias is not None:
                logits = logits + bias
            token = self._sample(logits, params, generator)
            if token in self.eos_ids:
                finish = "stop"
                break
            generated.append(token)
            text = self.tokenizer.decode(generated, skip_special_tokens=True)
            cut = _find_stop(text, params.stop)
            if cut is not None:
                text = text[:cut]
                finish = "stop"
                break
            safe = len(text) - hold_back
            if text.endswith("\ufffd"):  # an unfinished multi-byte character
                safe = min(safe, len(text) - 1)
            if emit is not None and safe > emitted:
                emit(text[emitted:safe])
                emitted = safe
            step_input = torch.tensor([[token]], device=self.device)
        if emit is not None and len(text) > emitted:
            emit(text[emitted:])
        return Generation(text=text, completion_tokens=len(generated), finish_reason=finish)

    @staticmethod
    def _sample(logits: torch.Tensor, params: SamplingParams, generator: torch.Generator | None) -> int:
        if params.temperature <= 1e-5:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits / params.temperature, dim=-1)
        if params.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            # Keep the smallest set of tokens whose mass reaches top_p (always at least one).
            outside = torch.cumsum(sorted_probs, dim=-1) - sorted_probs > params.top_p
            sorted_probs[outside] = 0.0
            probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
        return int(torch.multinomial(probs, 1, generator=generator))

    # -- encoders --------------------------------------------------------------------------

    @torch.inference_mode()
    def embed(self, texts: list[str]) -> tuple[list[list[float]], int]:
        """Mean-pooled, L2-normalised embeddings and the number of input tokens."""
        batch = self.tokenizer(texts, padding=True, truncation=True, return_tensors="pt").to(self.device)
        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
        pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
        return pooled.cpu().tolist(), int(batch["attention_mask"].sum())

    @torch.inference_mode()
    def classify(self, texts: list[str]) -> tuple[list[dict], int]:
        batch = self.tokenizer(texts, padding=True, truncation=True, return_tensors="pt").to(self.device)
        probs = torch.softmax(self.model(**batch).logits.float(), dim=-1).cpu()
        labels = self.config.id2label or {}
        results = []
        for row in probs:
            scores = {labels.get(i, str(i)): float(p) for i, p in enumerate(row)}
            best = int(torch.argmax(row))
            results.append(
                {"label": labels.get(best, str(best)), "score": float(row[best]), "scores": scores}
            )
        return results, int(batch["attention_mask"].sum())


def _find_stop(text: str, stops: list[str]) -> int | None:
    positions = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(positions) if positions else None
