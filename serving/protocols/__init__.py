"""Wire protocols spoken by the model server: KServe V2 (``v2``) and OpenAI-compatible (``openai``)."""
