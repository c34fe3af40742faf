from .artifacts import ArtifactFile, ModelArtifact, RegistryPolicy, UploadSession
from .deployments import Deployment, Event, ReplicaInterval, Revision
from .secrets import TeamSecret
from .targets import Target

__all__ = [
    "ArtifactFile",
    "Deployment",
    "Event",
    "ModelArtifact",
    "RegistryPolicy",
    "ReplicaInterval",
    "Revision",
    "Target",
    "TeamSecret",
    "UploadSession",
]
