"""Hugging Face folders: config.json, parameter count from safetensors headers (weights are never
loaded), architecture facts that size the KV cache, and whether a tokenizer came along."""

import json
from collections.abc import Callable

from . import InspectionError
from .names import HF_CONFIG_FILES, MAX_CONFIG_BYTES, remote_code_problem
from .safetensors_header import read_safetensors_header

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model")
PICKLE_WEIGHTS = ("pytorch_model.bin", ".bin", ".pt", ".pth", ".ckpt")
_DTYPE_NAMES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32", "F8_E4M3": "float8_e4m3fn"}


def inspect_huggingface(
    files: dict[str, int],
    read: Callable[[str, int, int], bytes],
    *,
    allow_pickle: bool,
    allow_remote_code: bool = False,
) -> dict:
    """`files` maps relative path to size; `read(path, start, length)` reads bytes from one.
    Configs whose auto_map needs trust_remote_code are refused unless `allow_remote_code`; when
    allowed, `trust_remote_code` in the facts tells the runtime to pass it."""
    if "config.json" not in files:
        raise InspectionError(
            "No config.json at the top of the folder: a Hugging Face model needs it "
            "(save it with model.save_pretrained)."
        )
    raw = read("config.json", 0, files["config.json"])
    try:
        config = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InspectionError(f"config.json is not valid JSON: {exc}.") from exc
    if not isinstance(config, dict):
        raise InspectionError("config.json must hold a JSON object.")
    text_config = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    remote_code = _needs_remote_code(config, files, read)
    if remote_code and not allow_remote_code:
        raise InspectionError(f"Refused: {remote_code}.")

    facts = architecture_facts(config, text_config)
    weights = sorted(p for p in files if p.endswith(".safetensors"))
    pickles = sorted(p for p in files if p.endswith(PICKLE_WEIGHTS))
    if weights:
        headers = [read_safetensors_header(p, files[p], lambda s, n, p=p: read(p, s, n)) for p in weights]
        dtypes: dict[str, int] = {}
        for h in headers:
            for dtype, count in h["dtypes"].items():
                dtypes[dtype] = dtypes.get(dtype, 0) + count
        facts["parameter_count"] = sum(h["parameters"] for h in headers)
        facts["parameter_source"] = "safetensors headers"
        main = max(dtypes, key=dtypes.get)
        facts["dtype"] = _DTYPE_NAMES.get(main, main.lower())
        facts["weight_files"] = weights
        facts["weight_bytes"] = sum(files[p] for p in weights)
    elif pickles:
        if not allow_pickle:
            raise InspectionError(
                f"The weights are only in pickle form ({', '.join(pickles)}). "
                "Loading pickle runs code, so it is refused: convert them to safetensors, "
                "or ask a platform admin to allow pickle weights for your team."
            )
        facts["parameter_count"] = facts["config_parameter_estimate"]
        facts["parameter_source"] = "config.json estimate (pickle weights not opened)"
        facts["weight_files"] = pickles
        facts["weight_bytes"] = sum(files[p] for p in pickles)
    else:
        raise InspectionError("No weights found: expected *.safetensors files (or pytorch_model.bin).")
    facts.setdefault("dtype", config.get("torch_dtype") or config.get("dtype"))
    facts["tokenizer"] = any(p.rsplit("/", 1)[-1] in TOKENIZER_FILES for p in files)
    facts["chat_template"] = "chat_template.jinja" in files or _has_chat_template(files, read)
    if remote_code:
        facts["trust_remote_code"] = True  # allowed by the policy; the runtime needs the flag
    return facts


def _needs_remote_code(config: dict, files, read) -> str | None:
    """The first top-level HF config whose auto_map would make transformers import folder code."""
    if problem := remote_code_problem("config.json", config):
        return problem
    for name in HF_CONFIG_FILES[1:]:
        size = files.get(name)
        if not size or size > MAX_CONFIG_BYTES:
            continue
        try:
            other = json.loads(read(name, 0, size))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if problem := remote_code_problem(name, other):
            return problem
    return None


def _has_chat_template(files, read) -> bool:
    size = files.get("tokenizer_config.json")
    if not size or size > 20 * 1024 * 1024:
        return False
    try:
        return bool(json.loads(read("tokenizer_config.json", 0, size)).get("chat_template"))
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return False


def architecture_facts(config: dict, text: dict) -> dict:
    architectures = config.get("architectures") or []
    heads = text.get("num_attention_heads")
    hidden = text.get("hidden_size")
    head_dim = text.get("head_dim") or (hidden // heads if hidden and heads else None)
    facts = {
        "architecture": architectures[0] if architectures else None,
        "model_type": config.get("model_type"),
        "task": _task(architectures[0] if architectures else ""),
        "hidden_size": hidden,
        "num_layers": text.get("num_hidden_layers"),
        "num_attention_heads": heads,
        "num_key_value_heads": text.get("num_key_value_heads") or heads,
        "head_dim": head_dim,
        "intermediate_size": text.get("intermediate_size"),
        "vocab_size": text.get("vocab_size"),
        "context_length": text.get("max_position_embeddings"),
        "tie_word_embeddings": bool(config.get("tie_word_embeddings", False)),
    }
    facts["config_parameter_estimate"] = estimate_parameters(facts, config)
    return facts


def _task(architecture: str) -> str:
    for suffix, task in (
        ("ForCausalLM", "text-generation"),
        ("ForConditionalGeneration", "text-generation"),
        ("ForSequenceClassification", "text-classification"),
        ("ForMaskedLM", "fill-mask"),
        ("Model", "feature-extraction"),
    ):
        if architecture.endswith(suffix):
            return task
    return "unknown"


def estimate_parameters(f: dict, config: dict) -> int | None:
    """Parameters of a dense decoder (Llama / Qwen2 / Mistral shape) from config.json alone: embeddings,
    attention projections (+ Qwen2's q/k/v biases), a gated MLP of three matrices, two norms per
    layer, the final norm and an untied LM head."""
    needed = (
        "hidden_size",
        "num_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "head_dim",
        "intermediate_size",
        "vocab_size",
    )
    if any(not f.get(k) for k in needed):
        return None
    h, layers, heads, kv, hd = (
        f["hidden_size"],
        f["num_layers"],
        f["num_attention_heads"],
        f["num_key_value_heads"],
        f["head_dim"],
    )
    q, k = heads * hd, kv * hd
    attention = h * q + 2 * h * k + q * h
    if config.get("attention_bias") or config.get("model_type") == "qwen2":
        attention += q + 2 * k
    mlp = 3 * h * f["intermediate_size"]
    per_layer = attention + mlp + 2 * h
    embeddings = f["vocab_size"] * h
    head = 0 if f["tie_word_embeddings"] else embeddings
    return layers * per_layer + embeddings + head + h
