from .env import env, secret_from_file

# The gateway (serving/) introspects API tokens with this shared secret.
GATEWAY_SHARED_SECRET = env.str("GATEWAY_SHARED_SECRET", default="") or secret_from_file("gateway-secret")

AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=180)
