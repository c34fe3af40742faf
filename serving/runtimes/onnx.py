"""ONNX models through onnxruntime.

The CUDA execution provider is used when onnxruntime has it and ``SERVING_DEVICE`` allows it;
otherwise the CPU provider. ``session.run`` releases the GIL, so the server calls it from worker
threads while the event loop keeps answering health checks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from serving.protocols.v2 import TensorSpec

# onnxruntime's type strings -> V2 datatypes.
_ONNX_TYPES = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}


def providers_for(device: str) -> list[str]:
    available = ort.get_available_providers()
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        raise RuntimeError(f"SERVING_DEVICE=cuda but onnxruntime has no CUDA provider (has {available})")
    return ["CPUExecutionProvider"]


def _spec(arg) -> TensorSpec:
    datatype = _ONNX_TYPES.get(arg.type)
    if datatype is None:
        raise RuntimeError(f"tensor '{arg.name}' has type {arg.type}, which the V2 protocol cannot carry")
    # Symbolic ("batch") or unknown (None) dimensions accept any size.
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in (arg.shape or []))
    return TensorSpec(arg.name, datatype, shape)


class OnnxModel:
    """One loaded ONNX model: its declared tensors and a thread-safe :meth:`run`."""

    platform = "onnxruntime_onnx"

    def __init__(
        self, path: str | Path, *, device: str = "auto", intra_op_threads: int = 0, spin: bool = False
    ) -> None:
        path = Path(path)
        if path.is_dir():
            candidates = sorted(path.glob("*.onnx"))
            if len(candidates) != 1:
                raise RuntimeError(
                    f"{path} is a directory with {len(candidates)} .onnx files; point at one file"
                )
            path = candidates[0]
        if not path.is_file():
            raise RuntimeError(f"{path} does not exist")
        options = ort.SessionOptions()
        if intra_op_threads > 0:
            options.intra_op_num_threads = intra_op_threads
        if not spin:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=providers_for(device))
        self.inputs = {arg.name: _spec(arg) for arg in self.session.get_inputs()}
        self.outputs = {arg.name: _spec(arg) for arg in self.session.get_outputs()}
        self._output_names = list(self.outputs)
        # Requests can be stacked into one batch only when every input and output has a free
        # leading dimension: then row i of the output belongs to row i of the input.
        self.batchable = all(
            spec.shape and spec.shape[0] == -1 for spec in (*self.inputs.values(), *self.outputs.values())
        )

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = self.session.run(self._output_names, feeds)
        return dict(zip(self._output_names, results, strict=True))
