"""The contract between the reconciler and a backend.

A backend makes one deployment's replicas match a DeploymentSpec (apply), reports what exists
(observe), removes everything (delete), and names its own endpoint if it has one. Every call is
idempotent and keyed by `spec.key`, so a reconcile that runs twice, or after a worker died
half-way, never creates a second copy of anything."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Protocol


class BackendError(Exception):
    """A backend call failed; the message is fit to show the user."""


class TransientBackendError(BackendError):
    """Worth retrying with backoff: timeouts, 429, 5xx, conflicts."""


class PermanentBackendError(BackendError):
    """Retrying cannot help (forbidden, invalid spec): the deployment fails with this message."""


# Bumped when what the platform gives every replica changes (its token, its sandbox): replicas
# started before an upgrade are then replaced, one by one like a new revision, by ones that have it.
REPLICA_ISOLATION = 2


@dataclass(frozen=True, slots=True)
class TargetConfig:
    """What a backend knows of its Target: no ORM object crosses the boundary."""

    name: str
    kind: str
    settings: Mapping = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeploymentSpec:
    key: str  # "<team>-<deployment>": DNS-safe, the idempotency key of every object a backend makes
    team: str
    deployment: str
    revision: int
    model_format: str  # onnx | huggingface
    model_name: str
    model_path: str  # a local folder for local targets; the storage URI for remote ones
    model_sha256: str
    replicas: int  # how many to run now (autoscaler, pin or min) for backends that do not scale themselves
    min_replicas: int
    max_replicas: int
    gpu_type: str = ""  # "" runs on CPU
    gpu_count: int = 0
    scaling_metric: str = "concurrency"
    scaling_target: float = 4.0
    scale_up_window_s: int = 0
    scale_down_window_s: int = 300
    env: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    # The team secrets the replicas receive, as (env name, value). Kept out of repr so no log line or
    # traceback shows a value; `secrets_digest` (a keyed hash of them) puts a rotation into the template.
    secret_env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    secrets_digest: str = ""

    @property
    def template_hash(self) -> str:
        """What a replica is made of. Revisions that only change scaling keep their replicas."""
        import hashlib

        shape = (
            REPLICA_ISOLATION,
            self.model_format,
            self.model_name,
            self.model_path,
            self.model_sha256,
            self.gpu_type,
            self.gpu_count,
            self.env,
            self.secrets_digest,
        )
        return hashlib.sha256(repr(shape).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class ReplicaState:
    id: str
    revision: int
    url: str
    ready: bool
    draining: bool = False
    started_at: float = 0.0
    template: str = ""  # DeploymentSpec.template_hash it was made from


@dataclass(frozen=True, slots=True)
class BackendEvent:
    """Something that happened between two observations (a crash, a restart, an unschedulable pod)."""

    kind: str
    message: str
    # A standing condition seen again on every observation (a pod Pending for want of a GPU, a
    # crash loop) rather than a one-off occurrence: the reconciler records it once while it lasts.
    ongoing: bool = False


@dataclass(frozen=True, slots=True)
class Observed:
    exists: bool
    replicas: tuple[ReplicaState, ...] = ()
    message: str = ""  # why it is not progressing, in words a user understands
    events: tuple[BackendEvent, ...] = ()

    def ready(self, template: str | None = None) -> list[ReplicaState]:
        """Ready replicas not being drained; with `template`, only those made from it."""
        return [
            r
            for r in self.replicas
            if r.ready and not r.draining and (template is None or r.template == template)
        ]

    def serving_urls(self) -> list[str]:
        """Replicas the gateway may route to: ready, and not being drained."""
        return sorted(r.url for r in self.ready())


class ProvisioningBackend(Protocol):
    kind: ClassVar[str]

    def __init__(self, target: TargetConfig) -> None: ...

    def apply(self, spec: DeploymentSpec) -> None:
        """Create or update towards the spec; repeatable. Rolls to a new revision without downtime."""

    def observe(self, key: str) -> Observed: ...

    def delete(self, key: str) -> None:
        """Remove everything the deployment owns; succeeds when already absent."""

    def endpoint(self, key: str) -> str | None:
        """The backend's own URL for the deployment, or None when clients go through the gateway."""
