"""ONNX: the checker, opset, typed inputs and outputs with symbolic dimensions, parameter count, and
proof that onnxruntime can load it."""

import math
from pathlib import Path

from . import InspectionError


def _tensor_type(value_info) -> dict:
    from onnx import TensorProto

    tensor = value_info.type.tensor_type
    dims = []
    for dim in tensor.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(dim.dim_value)
        else:
            dims.append(dim.dim_param or None)  # symbolic ("batch") or unknown
    return {
        "name": value_info.name,
        "datatype": TensorProto.DataType.Name(tensor.elem_type) if tensor.elem_type else "UNDEFINED",
        "shape": dims,
    }


def inspect_onnx(model_path: Path) -> dict:
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(model_path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise InspectionError(
            f"{model_path.name} is not an ONNX model: the bytes do not parse ({exc})."
        ) from exc
    if not model.graph.node and not model.graph.output:
        raise InspectionError(f"{model_path.name} is not an ONNX model: it has no graph.")
    try:
        # The path form checks models with external data and over 2 GB too.
        onnx.checker.check_model(str(model_path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise InspectionError(
            f"The ONNX checker rejected the graph: {str(exc).strip().splitlines()[0]}"
        ) from exc
    initializers = {init.name for init in model.graph.initializer}
    parameters = sum(math.prod(init.dims) for init in model.graph.initializer)
    weight_bytes = _initializer_bytes(model)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    inputs = [_tensor_type(i) for i in model.graph.input if i.name not in initializers]
    outputs = [_tensor_type(o) for o in model.graph.output]
    _check_runtime_loads(model_path)
    return {
        "opset": opset,
        "ir_version": model.ir_version,
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "inputs": inputs,
        "outputs": outputs,
        "parameter_count": parameters,
        "weight_bytes": weight_bytes,
        "batch_dimension": bool(inputs)
        and all(i["shape"] and not isinstance(i["shape"][0], int) for i in inputs),
    }


def _initializer_bytes(model) -> int:
    from onnx import helper

    total = 0
    for init in model.graph.initializer:
        itemsize = helper.tensor_dtype_to_np_dtype(init.data_type).itemsize if init.data_type else 0
        total += math.prod(init.dims) * itemsize
    return total


def _check_runtime_loads(model_path: Path) -> None:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    try:
        onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types per failure kind
        raise InspectionError(f"onnxruntime could not load the model: {str(exc).strip()[:500]}") from exc
