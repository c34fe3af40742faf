"""Rules for the environment variables a deployment passes to its replicas, the same for every backend.

A replica is untrusted code, and its environment is where a member could change how the Python
interpreter, the dynamic loader or the serving runtime loads code (PYTHONPATH + a sitecustomize.py
in a model folder was enough to run as the control plane), or overwrite what the platform sets
itself (ports, devices, tokens). Those names are refused, so one list decides, here."""

import re

from controlplane.exceptions import ApplicationError

ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
ENV_NAME_MAX = 128
ENV_VALUE_MAX = 32 * 1024

# Names a member may not set: exact names, then prefixes. Each entry says why in a word:
# loader/interpreter (changes which code runs), platform (the platform sets it for the replica),
# credentials (belongs to the control plane or the host).
RESERVED_ENV_NAMES = frozenset(
    {
        "PATH",  # loader: which executables run
        "HOME",  # platform: private working folder
        "TMPDIR",  # platform: private /tmp
        "SHELL",  # loader
        "ENV",  # loader: sh sources it
        "BASH_ENV",  # loader: bash sources it
        "IFS",  # loader
        "PERL5LIB",  # loader
        "PERL5OPT",  # loader
        "NODE_OPTIONS",  # loader
        "RUBYOPT",  # loader
        "CUDA_VISIBLE_DEVICES",  # platform: device assignment
        "NVIDIA_VISIBLE_DEVICES",  # platform: device assignment
        "DATABASE_URL",  # credentials
        "REDIS_URL",  # credentials
        "SECRET_KEY",  # credentials
        "HF_HOME",  # platform: where model files are read from
        "HF_MODULES_CACHE",  # loader: remote code is imported from here
        "TRANSFORMERS_CACHE",  # platform
    }
)
RESERVED_ENV_PREFIXES = (
    "PYTHON",  # loader: PYTHONPATH, PYTHONSTARTUP, PYTHONHOME, ...
    "LD_",  # loader: LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT
    "DYLD_",  # loader (macOS)
    "GCONV_",  # loader: glibc loads modules from GCONV_PATH
    "SERVING_",  # platform: the replica's own settings
    "REPLICA_",  # platform: the replica's token and address
    "CONTROLPLANE_",  # platform
    "DJANGO_",  # platform
    "GATEWAY_",  # credentials
    "CELERY_",  # credentials
    "AWS_",  # credentials
    "GOOGLE_",  # credentials
    "AZURE_",  # credentials
    "KUBERNETES_",  # platform: in-cluster discovery
    "BWRAP_",  # platform: sandbox
)


def env_reserved_reason(name: str) -> str | None:
    """Why a name is refused, or None when a member may set it."""
    if name in RESERVED_ENV_NAMES or name.startswith(RESERVED_ENV_PREFIXES):
        return f"{name} is set by the platform or changes how the replica loads code; it cannot be set."
    return None


def env_validate(env) -> None:
    """Raise a field error (`env` or `env.<NAME>`) for the first name or value that is not allowed.
    Runs before anything is written, so a refused deployment leaves nothing behind."""
    if not isinstance(env, dict):
        raise ApplicationError(
            "Environment variables are a mapping of names to string values.", extra={"field": "env"}
        )
    for name, value in env.items():
        field = f"env.{name}" if isinstance(name, str) and len(name) <= ENV_NAME_MAX else "env"
        if not isinstance(name, str) or len(name) > ENV_NAME_MAX or not ENV_NAME.fullmatch(name):
            raise ApplicationError(
                f"Environment variable names use A-Z, 0-9 and _, do not start with a digit, "
                f"and are at most {ENV_NAME_MAX} characters.",
                extra={"field": field},
            )
        reason = env_reserved_reason(name)
        if reason:
            raise ApplicationError(reason, extra={"field": field})
        if not isinstance(value, str):
            raise ApplicationError(f"The value of {name} must be a string.", extra={"field": field})
        if "\x00" in value or len(value) > ENV_VALUE_MAX:
            raise ApplicationError(
                f"The value of {name} may not hold NUL and is at most {ENV_VALUE_MAX} characters.",
                extra={"field": field},
            )
