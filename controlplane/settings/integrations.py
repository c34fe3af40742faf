from .env import env, secret_from_file

# The gateway (serving/) introspects API tokens with this shared secret.
GATEWAY_SHARED_SECRET = env.str("GATEWAY_SHARED_SECRET", default="") or secret_from_file("gateway-secret")

AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=180)

# Where clients reach deployments: the gateway (serving/gateway.py), which `make run` starts.
GATEWAY_PORT = env.int("GATEWAY_PORT", default=8080)
GATEWAY_PUBLIC_URL = env.str("GATEWAY_PUBLIC_URL", default=f"http://127.0.0.1:{GATEWAY_PORT}")
