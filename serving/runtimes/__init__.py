"""Model runtimes: ONNX through onnxruntime (``onnx``), Hugging Face through transformers (``hf``)."""
