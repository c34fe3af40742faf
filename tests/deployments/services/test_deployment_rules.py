"""Rules of deployments that need no worker: validation naming the field, quota, model in use."""

import pytest

from controlplane.exceptions import ApplicationError
from deployments.models import Deployment, ModelArtifact
from deployments.services import artifact_delete
from deployments.services.deployments import deployment_create, deployment_delete, deployment_update
from deployments.services.targets import target_create


@pytest.fixture
def world(team, members):
    cpu = target_create(actor=members["owner"], name="local", kind="local", gpu_inventory={})
    gpus = target_create(actor=members["owner"], name="gpu-box", kind="local", gpu_inventory={"l4": 4})
    artifact = ModelArtifact.objects.create(
        team=team,
        name="m",
        version=1,
        format="onnx",
        status="ready",
        inspection={"parameter_count": 15, "weight_bytes": 60},
    )
    return {"cpu": cpu, "gpus": gpus, "artifact": artifact}


def create(team, members, world, **options):
    options.setdefault("target", world["cpu"])
    return deployment_create(
        team=team,
        actor=members["deployer"],
        name=options.pop("name", "svc"),
        artifact=world["artifact"],
        **options,
    )


@pytest.mark.parametrize(
    "options,field,message",
    [
        ({"name": "Bad_Name"}, "name", "Invalid name"),
        ({"min_replicas": 3, "max_replicas": 2}, "min_replicas", "cannot exceed"),
        ({"gpu_type": "h100", "gpu_count": 1}, "gpu_type", "does not offer h100"),
        ({"target": "gpus", "gpu_type": "l4", "gpu_count": 8}, "gpu_count", "has 4 l4 GPUs"),
        ({"scaling_target": 0}, "scaling_target", "above zero"),
    ],
)
def test_bad_specs_name_the_field_and_create_nothing(team, members, world, options, field, message):
    if options.get("target") == "gpus":
        options["target"] = world["gpus"]
    with pytest.raises(ApplicationError) as error:
        create(team, members, world, **options)
    assert error.value.extra["field"] == field and message in error.value.message
    assert not Deployment.objects.exists()


def test_not_ready_model_is_refused(team, members, world):
    ModelArtifact.objects.filter(pk=world["artifact"].pk).update(status="validating")
    world["artifact"].refresh_from_db()
    with pytest.raises(ApplicationError, match="only ready versions deploy"):
        create(team, members, world)


def test_gpu_quota_counts_max_replicas_across_deployments(team, members, world):
    team.gpu_quota = {"l4": 4}
    team.save()
    create(team, members, world, name="one", target=world["gpus"], gpu_type="l4", gpu_count=1, max_replicas=3)
    with pytest.raises(ApplicationError) as error:
        create(
            team, members, world, name="two", target=world["gpus"], gpu_type="l4", gpu_count=1, max_replicas=2
        )
    assert error.value.extra["field"] == "max_replicas"
    assert "quota is 4 GPUs; 3 are held" in error.value.message
    create(
        team, members, world, name="three", target=world["gpus"], gpu_type="l4", gpu_count=1, max_replicas=1
    )


def test_names_are_unique_among_live_deployments_only(team, members, world):
    first = create(team, members, world)
    with pytest.raises(ApplicationError, match="already has a deployment named"):
        create(team, members, world)
    Deployment.objects.filter(pk=first.pk).update(status="deleted")
    assert create(team, members, world).pk != first.pk


def test_a_model_in_use_cannot_be_deleted(team, members, world):
    deployment = create(team, members, world)
    with pytest.raises(ApplicationError, match="used by deployment svc"):
        artifact_delete(artifact=world["artifact"], actor=members["deployer"])
    deployment_delete(deployment=deployment, actor=members["deployer"])
    Deployment.objects.filter(pk=deployment.pk).update(status="deleted")  # as the reconciler finishes it
    artifact_delete(artifact=world["artifact"], actor=members["deployer"])
    assert deployment.revisions.get().artifact is None  # history stays, without the model


def test_an_update_that_changes_nothing_is_refused(team, members, world):
    deployment = create(team, members, world)
    with pytest.raises(ApplicationError, match="Nothing changes"):
        deployment_update(deployment=deployment, actor=members["deployer"], min_replicas=1)


def test_keys_never_collide_across_teams(team, members, world):
    from tests.factories.tenancy import MembershipFactory, TeamFactory

    other = TeamFactory(slug="alpha-b")
    MembershipFactory(team=other, user=members["deployer"], role="deployer")
    deployment_create(
        team=other,
        actor=members["deployer"],
        name="c",
        target=world["cpu"],
        artifact=ModelArtifact.objects.create(
            team=other, name="m", version=1, format="onnx", status="ready", inspection={"weight_bytes": 60}
        ),
    )
    with pytest.raises(ApplicationError) as error:
        create(team, members, world, name="b-c")  # alpha + b-c = alpha-b-c = alpha-b + c
    assert error.value.extra["field"] == "name" and "alpha-b-c" in error.value.message


def test_targets_listed_are_those_the_callers_teams_may_use(api_client, team, members, world):
    from tests.factories.tenancy import TeamFactory

    private = target_create(
        actor=members["owner"],
        name="alpha-only",
        kind="local",
        gpu_inventory={},
        all_teams=False,
        teams=[team],
    )
    target_create(
        actor=members["owner"],
        name="beta-only",
        kind="local",
        gpu_inventory={},
        all_teams=False,
        teams=[TeamFactory(slug="gamma")],
    )
    api_client.force_authenticate(members["viewer"])
    names = [t["name"] for t in api_client.get("/api/v1/targets/").json()["results"]]
    assert names == sorted(["alpha-only", "gpu-box", "local"]) and private.name in names
    api_client.force_authenticate(members["outsider"])
    assert [t["name"] for t in api_client.get("/api/v1/targets/").json()["results"]] == ["gpu-box", "local"]
