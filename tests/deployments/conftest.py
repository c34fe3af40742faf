import contextlib
import hashlib

import pytest

from deployments.models import ModelArtifact
from deployments.services import artifact_inspect
from deployments.storage import artifact_storage


@pytest.fixture(autouse=True)
def artifact_dirs(settings, tmp_path):
    """Each test gets its own artifact storage and staging folder, so 'nothing left behind' is checkable."""
    settings.ARTIFACT_LOCAL_ROOT = tmp_path / "artifacts"
    settings.UPLOAD_STAGING_DIR = tmp_path / "uploads"
    settings.ARTIFACT_S3_BUCKET = ""
    artifact_storage.cache_clear()
    from tests.deployments import e2e

    e2e.CURRENT_REPLICA_ROOT[:] = [tmp_path / "replicas"]  # where this test's workers keep replicas
    yield tmp_path
    e2e.CURRENT_REPLICA_ROOT.clear()
    artifact_storage.cache_clear()


def stored_files(tmp_path) -> list[str]:
    root = tmp_path / "artifacts"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def staged_files(tmp_path) -> list[str]:
    root = tmp_path / "uploads"
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


class RegistryClient:
    """Drives the registry API the way a CI pipeline would."""

    def __init__(self, api_client, team_slug: str):
        self.api, self.base = api_client, f"/api/v1/teams/{team_slug}/models/"

    def create(self, name="tiny", format="onnx", **extra):
        response = self.api.post(self.base, {"name": name, "format": format, **extra}, format="json")
        assert response.status_code == 201, response.content
        return response.json()

    def put(self, artifact_id, path, data: bytes, sha256: str | None = None, **headers):
        if sha256 is not None:
            headers["HTTP_X_CHECKSUM_SHA256"] = sha256
        return self.api.put(
            f"{self.base}{artifact_id}/files/{path}",
            data=data,
            content_type="application/octet-stream",
            **headers,
        )

    def complete(self, artifact_id):
        return self.api.post(f"{self.base}{artifact_id}/complete")

    def upload_folder(self, artifact_id, folder):
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                data = file.read_bytes()
                rel = file.relative_to(folder).as_posix()
                response = self.put(artifact_id, rel, data, sha256=hashlib.sha256(data).hexdigest())
                assert response.status_code == 201, response.content


@pytest.fixture
def registry(api_client, team, members):
    api_client.force_authenticate(members["deployer"])
    return RegistryClient(api_client, team.slug)


@pytest.fixture
def inspect(django_capture_on_commit_callbacks):
    """Complete through the API, then run inspection in-process as the worker would."""

    def run(registry: RegistryClient, artifact_id: int) -> ModelArtifact:
        with django_capture_on_commit_callbacks(execute=False):
            response = registry.complete(artifact_id)
        assert response.status_code == 202, response.content
        assert response.json()["status"] == "validating"
        with django_capture_on_commit_callbacks(execute=True):  # a worker's transactions commit
            return artifact_inspect(artifact_id=artifact_id)

    return run


@pytest.fixture(autouse=True)
def stop_leftover_replicas(artifact_dirs):
    """Model servers this test's workers started keep their replicas under its var/ folder, which
    their CONTROLPLANE_REPLICA_KEY marker names (`<key>@<replica root>`); none may outlive the
    test, even when it fails half-way."""
    yield
    import os
    import signal
    from pathlib import Path

    root = f"@{artifact_dirs}/".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(v.startswith(b"CONTROLPLANE_REPLICA_KEY=") and root in v for v in env):
            # Its process group: its own, or under bubblewrap the sandbox's (whose init, killed,
            # takes the whole sandbox with it).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(os.getpgid(int(entry.name)), signal.SIGKILL)
