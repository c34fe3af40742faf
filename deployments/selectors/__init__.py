from .artifacts import artifact_get, artifact_list, upload_get

__all__ = ["artifact_get", "artifact_list", "upload_get"]
