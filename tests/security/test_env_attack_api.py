"""The reported attack: deploy with PYTHONPATH pointing into the model folder. The API refuses it with
a 400 naming env.PYTHONPATH, and no deployment, revision or event is left behind."""

from deployments.models import Deployment, ModelArtifact
from deployments.services.targets import target_create


def test_pythonpath_deploy_is_refused_and_nothing_is_created(api_client, team, members):
    target_create(actor=members["owner"], name="local", kind="local", gpu_inventory={})
    artifact = ModelArtifact.objects.create(
        team=team,
        name="m",
        version=1,
        format="onnx",
        status="ready",
        inspection={"parameter_count": 15, "weight_bytes": 60},
    )
    api_client.force_authenticate(members["deployer"])
    response = api_client.post(
        f"/api/v1/teams/{team.slug}/deployments/",
        {
            "name": "svc",
            "target": "local",
            "model_id": artifact.pk,
            "env": {"PYTHONPATH": f"var/artifacts/artifacts/{team.slug}/m"},
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "env.PYTHONPATH" in response.content.decode()
    assert not Deployment.objects.filter(team=team).exists()


def test_the_reported_attack_end_to_end_through_the_api(
    api_client, team, members, make_token, artifact_dirs, django_capture_on_commit_callbacks
):
    """Issue 10's replay with a member's real token: the ONNX folder carrying sitecustomize.py loses
    that file at upload (400 naming it), and the PYTHONPATH deploy of what remains is refused too."""
    import hashlib

    from deployments.services import artifact_inspect
    from tests.deployments.conftest import stored_files
    from tests.factories.models import tiny_onnx_bytes

    target_create(actor=members["owner"], name="local", kind="local", gpu_inventory={})
    _, raw = make_token(members["deployer"], team)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    models = f"/api/v1/teams/{team.slug}/models/"
    artifact_id = api_client.post(models, {"name": "m", "format": "onnx"}, format="json").json()["id"]
    folder = {
        "model.onnx": tiny_onnx_bytes(),
        "sitecustomize.py": b"open('/tmp/pwned', 'w').write(open('var/django-secret-key').read())\n",
    }
    answers = {
        path: api_client.put(
            f"{models}{artifact_id}/files/{path}",
            data=data,
            content_type="application/octet-stream",
            HTTP_X_CHECKSUM_SHA256=hashlib.sha256(data).hexdigest(),
        )
        for path, data in folder.items()
    }
    assert answers["model.onnx"].status_code == 201
    refused = answers["sitecustomize.py"]
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"]["path"][0].startswith(
        "Refused: 'sitecustomize.py' is a code file"
    )
    with django_capture_on_commit_callbacks(execute=False):
        assert api_client.post(f"{models}{artifact_id}/complete").status_code == 202
    with django_capture_on_commit_callbacks(execute=True):
        assert artifact_inspect(artifact_id=artifact_id).status == "ready"
    assert not any(p.endswith(".py") for p in stored_files(artifact_dirs))

    response = api_client.post(
        f"/api/v1/teams/{team.slug}/deployments/",
        {
            "name": "svc",
            "target": "local",
            "model_id": artifact_id,
            "env": {"PYTHONPATH": f"var/artifacts/artifacts/{team.pk}/{artifact_id}"},
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == ["env.PYTHONPATH"]
    assert not Deployment.objects.filter(team=team).exists()
