"""Data plane: the model server and the gateway.

Both are small ASGI programs (Starlette + uvicorn) that keep Django out of the request path.
Nothing under ``serving/`` imports Django; the control plane imports ``serving.store`` to
publish routes and to read the gateway's counters.
"""
