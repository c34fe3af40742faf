"""schemathesis over the whole OpenAPI schema, as the owner of a throwaway team with an API token:
no server errors, every response as the schema documents it, every error in the one error shape.

The schema is loaded from the WSGI app, and requests go through it in this process, inside the test's
transaction: what an operation creates is rolled back, and the work it enqueues on commit (reconcile,
inspection) never runs, so no replica starts and no worker is needed; files go to tmp_path. So no
operation is excluded. Most cases get the fixture's real objects as path parameters, so they reach
the operation's code rather than a 404 (keeps_generated_path says which keep the fuzzed ones).
Stateful runs are off: each operation starts from the same fixture, which keeps failures replayable.
"""

import zlib

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import TestPhase
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from controlplane.tenancy.models import Membership
from controlplane.tenancy.permissions import Role, Scope
from controlplane.tenancy.services import api_token_create, team_create
from controlplane.wsgi import application
from tests.factories.tenancy import UserFactory

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20261204,  # fixed with `deterministic`, so a CI run is the same run as on a laptop
        "generation": {"max-examples": 6, "deterministic": True, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
    }
)

# Resumable upload chunks (tus's media type) are raw bytes, as application/octet-stream is.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application, config=CONFIG)


@pytest.fixture
def keep_test_transaction():
    """Django closes the DB connection when a request finishes, which would end the test's
    transaction; its own test client unhooks the same signals."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(db, keep_test_transaction, settings, tmp_path):
    """A throwaway team with objects behind every path parameter, and its owner's token."""
    from billing.services import catalog_seed
    from deployments.models import ModelArtifact
    from deployments.services.artifacts import upload_start
    from deployments.services.deployments import deployment_create
    from deployments.services.secrets import secret_set
    from deployments.services.targets import target_create
    from deployments.storage import artifact_storage

    settings.ARTIFACT_LOCAL_ROOT = tmp_path / "artifacts"  # uploads land in the test's folder
    settings.UPLOAD_STAGING_DIR = tmp_path / "uploads"
    settings.ARTIFACT_S3_BUCKET = ""
    artifact_storage.cache_clear()

    owner = UserFactory(username="fuzz-owner")
    team = team_create(actor=owner, slug="fuzz", name="Fuzz")
    viewer = Membership.objects.create(team=team, user=UserFactory(username="fuzz-viewer"), role=Role.VIEWER)
    _, plaintext = api_token_create(
        team=team, actor=owner, name="fuzz", scopes=[Scope.READ, Scope.WRITE, Scope.INVOKE, Scope.FINANCE]
    )
    # A second token to read and revoke: revoking the one in use would turn the rest into 401s.
    spare, _ = api_token_create(team=team, actor=owner, name="spare", scopes=[Scope.READ])

    admin = UserFactory(username="fuzz-root")
    admin.is_superuser = admin.is_staff = True
    admin.save()
    catalog_seed(actor=admin)
    target = target_create(actor=admin, name="local", kind="local", gpu_inventory={})
    ready = ModelArtifact.objects.create(
        team=team,
        name="ready",
        version=1,
        format="onnx",
        status="ready",
        inspection={"parameter_count": 15, "weight_bytes": 60},
        created_by=owner,
    )
    deployment = deployment_create(team=team, actor=owner, name="svc", target=target, artifact=ready)
    uploading = ModelArtifact.objects.create(
        team=team, name="uploading", version=1, format="onnx", created_by=owner
    )
    upload = upload_start(artifact=uploading, actor=owner, path="model.onnx", size=64)
    secret_set(team=team, name="HF_TOKEN", value="fuzz-secret-value", actor=owner)

    from billing.models import CatalogItem, GpuType, OnPremProfile

    yield {
        "headers": {"Authorization": f"Bearer {plaintext}"},
        "team": team.slug,
        "deployment": deployment.pk,
        "ready": ready.pk,
        "uploading": uploading.pk,
        "upload": str(upload.pk),
        "member": viewer.pk,
        "token": spare.pk,
        "target": target.pk,
        "secret": "HF_TOKEN",
        "gpu_type": GpuType.objects.order_by("slug").first().slug,
        "item": CatalogItem.objects.order_by("pk").first().pk,
        "profile": OnPremProfile.objects.order_by("slug").first().slug,
        "month": "2026-11",
    }
    artifact_storage.cache_clear()


def real_path_parameters(path: str, world: dict) -> dict:
    """The fixture's object for each path parameter that names one, chosen by where it sits."""
    values: dict = {}
    if path.startswith("/api/v1/billing/gpu-types/"):
        values["slug"] = world["gpu_type"]
    elif path.startswith("/api/v1/billing/onprem-profiles/"):
        values["slug"] = world["profile"]
    elif path.startswith("/api/v1/teams/"):
        values["slug"] = world["team"]
    for prefix, key in (
        ("/api/v1/teams/{slug}/deployments/{id}", "deployment"),
        ("/api/v1/teams/{slug}/members/{id}", "member"),
        ("/api/v1/teams/{slug}/tokens/{id}", "token"),
        ("/api/v1/targets/{id}", "target"),
        ("/api/v1/billing/items/{id}", "item"),
    ):
        if path.startswith(prefix):
            values["id"] = world[key]
    if path.startswith("/api/v1/teams/{slug}/models/{id}"):
        writing = any(part in path for part in ("/uploads/", "/files/", "/complete"))
        values["id"] = world["uploading" if writing else "ready"]
    if "{upload_id}" in path:
        values["upload_id"] = world["upload"]
    if "/secrets/{name}" in path:
        values["name"] = world["secret"]
    if "{month}" in path:
        values["month"] = world["month"]
    return {k: v for k, v in values.items() if f"{{{k}}}" in path}


def error_shape(ctx, response, case):
    """Every 4xx/5xx under /api/ is JSON: {"error": {"code", "message", "fields", "request_id"}}."""
    if response.status_code < 400:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]  # lowercase keys, list values
    assert content_type.startswith("application/json"), f"{response.status_code} as {content_type!r}"
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "fields", "request_id"}, error
    assert isinstance(error["code"], str) and error["code"], error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["fields"], dict), error
    assert all(isinstance(v, list) and all(isinstance(m, str) for m in v) for v in error["fields"].values())
    assert isinstance(error["request_id"], str) and error["request_id"], error
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    error_shape,
]


def keeps_generated_path(case) -> bool:
    """Cases aimed at a path parameter and a third of the rest keep what was generated, so lookups
    of odd, long or missing ids are fuzzed too; the others get real objects, so their bodies and
    queries reach validation rather than a 404. The choice hangs on the generated values, hence is
    the same on every run."""
    meta = case.meta
    if meta is not None:
        if meta.phase.name == TestPhase.COVERAGE:  # coverage marks whole cases negative: ask its target
            return getattr(meta.phase.data, "parameter_location", None) == ParameterLocation.PATH
        if meta.is_negative_at(ParameterLocation.PATH):
            return True
    return zlib.crc32(repr(sorted((case.path_parameters or {}).items())).encode()) % 3 == 0


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_api_operation(case, world):
    if case.path_parameters and not keeps_generated_path(case):
        case.path_parameters = {**case.path_parameters, **real_path_parameters(case.path, world)}
    case.call_and_validate(headers=world["headers"], checks=CHECKS)
