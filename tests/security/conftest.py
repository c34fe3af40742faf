# The registry client and per-test artifact folders of the deployment tests, so attacks here can
# go through the same real upload, worker and replica path.
from tests.deployments.conftest import artifact_dirs, registry, stop_leftover_replicas  # noqa: F401
