from .artifacts import (
    artifact_complete,
    artifact_create,
    artifact_delete,
    artifact_file_put,
    artifact_inspect,
    artifact_register_uri,
    registry_policy_update,
    upload_abort,
    upload_append,
    upload_expire,
    upload_start,
)

__all__ = [
    "artifact_complete",
    "artifact_create",
    "artifact_delete",
    "artifact_file_put",
    "artifact_inspect",
    "artifact_register_uri",
    "registry_policy_update",
    "upload_abort",
    "upload_append",
    "upload_expire",
    "upload_start",
]
