"""Team-scoped reads shared by the console, the API and other apps (billing reads deployments only
through here). Each sub-module's public names are re-exported here; tests/test_boundaries.py
keeps it so."""

from .artifacts import (
    artifact_file_get,
    artifact_get,
    artifact_list,
    upload_get,
)
from .deployments import (
    deployment_get,
    deployment_list,
    target_list_for,
)
from .fit import (
    GpuFit,
    target_fit,
)
from .manifests import (
    YAML_CONTENT_TYPE,
    deployment_manifests,
    deployment_manifests_file,
    manifests_yaml,
)
from .secrets import (
    secret_env_for,
    secret_list,
    secret_users,
)
from .sizing import (
    artifact_sizing,
    gpu_offers,
)

__all__ = [
    "GpuFit",
    "YAML_CONTENT_TYPE",
    "artifact_file_get",
    "artifact_get",
    "artifact_list",
    "artifact_sizing",
    "deployment_get",
    "deployment_list",
    "deployment_manifests",
    "deployment_manifests_file",
    "gpu_offers",
    "manifests_yaml",
    "secret_env_for",
    "secret_list",
    "secret_users",
    "target_fit",
    "target_list_for",
    "upload_get",
]
