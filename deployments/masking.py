"""What a deployment's env looks like to readers: a value under a secret-looking name (the audit log's
rule: TOKEN, SECRET, PASSWORD, API_KEY, CREDENTIAL, ...) is write-only for every role, and a secretRef
shows only the secret's name. Values that need protecting belong in team secrets."""

from controlplane.tenancy.services.audit import MASK, is_sensitive_name


def mask_env(env):
    if not isinstance(env, dict):
        return env
    return {
        name: value
        if isinstance(value, dict) and set(value) == {"secretRef"}
        else (MASK if is_sensitive_name(name) else value)
        for name, value in env.items()
    }


def mask_env_in(data):
    """Event data may nest an env (a change's before/after): mask every mapping under an `env` key."""
    if isinstance(data, dict):
        return {k: mask_env(v) if k == "env" else mask_env_in(v) for k, v in data.items()}
    if isinstance(data, list):
        return [mask_env_in(v) for v in data]
    return data
