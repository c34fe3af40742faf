from .env import env, secret_from_file

# The gateway (serving/) introspects API tokens with this shared secret.
GATEWAY_SHARED_SECRET = env.str("GATEWAY_SHARED_SECRET", default="") or secret_from_file("gateway-secret")

AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=180)

# Where clients reach deployments: the gateway (serving/gateway.py), which `make run` starts.
GATEWAY_PORT = env.int("GATEWAY_PORT", default=8080)
GATEWAY_PUBLIC_URL = env.str("GATEWAY_PUBLIC_URL", default=f"http://127.0.0.1:{GATEWAY_PORT}")

# Secrets at rest (kubeconfigs of Kubernetes targets) are encrypted with this key; empty derives
# one from SECRET_KEY. See controlplane/crypto.py.
CONTROLPLANE_SECRET_KEY = env.str("CONTROLPLANE_SECRET_KEY", default="")
# Dotted path of `f(target_config) -> KubeClient` for Kubernetes targets. Tests point a worker at
# an in-memory cluster (tests/fakes_kube.py) through it; production leaves the default.
KUBERNETES_CLIENT_FACTORY = env.str(
    "KUBERNETES_CLIENT_FACTORY", default="deployments.backends.kube_client.official_client"
)

# Billing. Idle own-hardware GPU-hours go to the teams by their share of use ("share") or to the
# platform ("platform"). Enforcement refuses a deployment or scale-up whose month estimate passes
# the team's budget. Budget alerts are also POSTed to the webhook when one is set.
BILLING_IDLE_ALLOCATION = env.str("BILLING_IDLE_ALLOCATION", default="share")
BILLING_BUDGET_ENFORCEMENT = env.bool("BILLING_BUDGET_ENFORCEMENT", default=False)
BILLING_BUDGET_WEBHOOK_URL = env.str("BILLING_BUDGET_WEBHOOK_URL", default="")
