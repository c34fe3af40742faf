from .artifacts import ArtifactFile, ModelArtifact, RegistryPolicy, UploadSession
from .deployments import Deployment, Event, ReplicaInterval, Revision
from .queue import ReconcileTicket
from .secrets import TeamSecret
from .targets import Target

__all__ = [
    "ArtifactFile",
    "Deployment",
    "Event",
    "ModelArtifact",
    "ReconcileTicket",
    "RegistryPolicy",
    "ReplicaInterval",
    "Revision",
    "Target",
    "TeamSecret",
    "UploadSession",
]
