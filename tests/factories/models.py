"""Tiny real models built in the tests: no hub downloads."""

import io
import json
import struct
import tarfile
import zipfile
from pathlib import Path


def tiny_onnx_weights(scale: float = 0.1):
    import numpy as np

    return np.arange(12, dtype=np.float32).reshape(4, 3) * scale, np.array([0.5, -1.0, 2.0], dtype=np.float32)


def tiny_onnx_bytes(*, broken: bool = False, scale: float = 0.1) -> bytes:
    """Y = X·W + B with X [batch, 4] float32 and 15 parameters (W = arange(12)·scale). `broken`
    wires a node to an input that does not exist, which the checker refuses."""
    from onnx import TensorProto, helper, numpy_helper

    weights, bias = tiny_onnx_weights(scale)
    w = numpy_helper.from_array(weights, name="W")
    b = numpy_helper.from_array(bias, name="B")
    matmul = helper.make_node("MatMul", ["X", "W" if not broken else "missing"], ["XW"])
    add = helper.make_node("Add", ["XW", "B"], ["Y"])
    graph = helper.make_graph(
        [matmul, add],
        "tiny",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["batch", 3])],
        initializer=[w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tests")
    model.ir_version = 8
    return model.SerializeToString()


def tiny_llama_folder(path: Path) -> dict:
    """A 2-layer random Llama with a word-level tokenizer and a chat template, saved with
    save_pretrained. Returns facts to compare inspection against."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    words = ["<unk>", "<s>", "</s>", "hello", "world", "model", "deploy", "the", "a", "is"]
    vocab = {w: i for i, w in enumerate(words)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    config = LlamaConfig(
        vocab_size=len(words),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        bos_token_id=1,
        eos_token_id=2,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "layers": 2,
        "kv_heads": 2,
        "head_dim": 4,
        "context": 128,
    }


def safetensors_bytes(tensors: dict[str, tuple[str, list[int]]], *, lie: int = 0) -> bytes:
    """A .safetensors file of zeros; `lie` shortens the data actually written after the header."""
    widths = {"F32": 4, "BF16": 2, "F16": 2}
    header, offset = {}, 0
    for name, (dtype, shape) in tensors.items():
        n = widths[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * (offset - lie)


def tar_gz_of(folder: Path, *, top: str = "model") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                tf.add(file, arcname=f"{top}/{file.relative_to(folder)}")
    return buf.getvalue()


def zip_of(entries: dict[str, bytes], *, symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()
