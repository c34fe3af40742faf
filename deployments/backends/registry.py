from django.core.exceptions import ImproperlyConfigured

from .base import ProvisioningBackend, TargetConfig

_BACKENDS: dict[str, type[ProvisioningBackend]] = {}


def register_backend(cls):
    if cls.kind in _BACKENDS and _BACKENDS[cls.kind] is not cls:
        raise ImproperlyConfigured(f"backend {cls.kind!r} registered twice")
    _BACKENDS[cls.kind] = cls
    return cls


def backend_kinds() -> list[str]:
    return sorted(_BACKENDS)


def backend_class(kind: str) -> type[ProvisioningBackend] | None:
    return _BACKENDS.get(kind)


def get_backend(target: TargetConfig) -> ProvisioningBackend:
    if target.kind not in _BACKENDS:
        raise ImproperlyConfigured(f"unknown backend {target.kind!r}; have {backend_kinds()}")
    return _BACKENDS[target.kind](target)


def unregister_backend(kind: str) -> None:
    """For tests that register a fake backend."""
    _BACKENDS.pop(kind, None)
