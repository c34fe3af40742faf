"""Tiny models built on the spot, so no test downloads anything."""

from __future__ import annotations

from pathlib import Path

import numpy as np

WORDS = [
    "hello",
    "world",
    "the",
    "a",
    "cat",
    "dog",
    "runs",
    "jumps",
    "over",
    "under",
    "quick",
    "brown",
    "fox",
    "lazy",
    "red",
    "blue",
    "green",
    "sky",
    "sea",
    "tree",
    "house",
    "car",
    "bird",
    "fish",
    "sun",
    "moon",
    "star",
    "rain",
    "snow",
    "wind",
    "fire",
    "stone",
    "river",
    "hill",
    "road",
    "city",
    "book",
]
SPECIAL = ["<unk>", "<s>", "</s>", "<pad>"]
ROLE_WORDS = ["system", "user", "assistant", ":"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<s> {{ m['role'] }} : {{ m['content'] }} </s> {% endfor %}"
    "{% if add_generation_prompt %}<s> assistant : {% endif %}"
)


def build_onnx(path: Path, *, in_features: int = 4, out_features: int = 3, seed: int = 0) -> Path:
    """y = tanh(x @ W + b) with a free batch dimension, plus a second output z = sum(x, axis=1)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weights = numpy_helper.from_array(
        rng.standard_normal((in_features, out_features)).astype(np.float32), "W"
    )
    bias = numpy_helper.from_array(rng.standard_normal((out_features,)).astype(np.float32), "B")
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["h"]),
            helper.make_node("Add", ["h", "B"], ["a"]),
            helper.make_node("Tanh", ["a"], ["y"]),
            helper.make_node("ReduceSum", ["x", "axes"], ["z"], keepdims=0),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", in_features])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", out_features]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch"]),
        ],
        [weights, bias, axes],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every onnxruntime we might meet
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def build_tokenizer(directory: Path):
    """A word-level tokenizer over a few dozen words, with a chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIAL + ROLE_WORDS + WORDS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)
    return tokenizer


def build_llama(directory: Path, seed: int = 0) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(directory)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory


def build_bert(directory: Path, *, classifier: bool = False, seed: int = 0) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    tokenizer = build_tokenizer(directory)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=64,
        pad_token_id=tokenizer.pad_token_id,
    )
    if classifier:
        config.id2label = {0: "negative", 1: "positive"}
        config.label2id = {"negative": 0, "positive": 1}
        BertForSequenceClassification(config).save_pretrained(directory)
    else:
        BertModel(config).save_pretrained(directory)
    return directory
