from .artifacts import artifact_file_get, artifact_get, artifact_list, upload_get

__all__ = ["artifact_file_get", "artifact_get", "artifact_list", "upload_get"]
