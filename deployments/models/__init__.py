from .artifacts import ArtifactFile, ModelArtifact, RegistryPolicy, UploadSession

__all__ = ["ArtifactFile", "ModelArtifact", "RegistryPolicy", "UploadSession"]
