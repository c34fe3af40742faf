""" "Show YAML": the exact objects a deployment on a Kubernetes target applies, rendered by the
backend's own code from the same DeploymentSpec the reconciler builds."""

import yaml

from controlplane.exceptions import ApplicationError
from deployments.backends.base import BackendError
from deployments.backends.kubernetes import render_manifests
from deployments.models import Deployment

YAML_CONTENT_TYPE = "application/yaml; charset=utf-8"


def deployment_manifests(*, deployment: Deployment) -> list[dict]:
    """The manifests for the deployment's current revision and replica count, in apply order.
    Raises ApplicationError when the target is not Kubernetes or the spec cannot be rendered."""
    from deployments.reconcile import build_spec

    if deployment.target.kind != "kubernetes":
        raise ApplicationError(
            f"{deployment.name} runs on {deployment.target.name}, a {deployment.target.kind} "
            "target: only Kubernetes deployments have manifests.",
            extra={"field": "target"},
        )
    if deployment.current_revision is None:
        raise ApplicationError("The deployment has no revision yet.", extra={"field": "revision"})
    try:
        objects = render_manifests(build_spec(deployment), deployment.target.settings)
    except BackendError as exc:
        prefix = str(exc).split(":", 1)[0]  # backend errors about a field start with its name
        raise ApplicationError(
            str(exc), extra={"field": prefix if prefix.isidentifier() else "target"}
        ) from exc
    return [_redacted(o) for o in objects]


def _redacted(obj: dict) -> dict:
    """A Secret is shown by its keys only: the values come from the team's secrets at apply time."""
    if obj.get("kind") != "Secret":
        return obj
    names = sorted(obj.get("data") or {})
    return {**{k: v for k, v in obj.items() if k != "data"}, "stringData": dict.fromkeys(names, "<redacted>")}


def manifests_yaml(objects: list[dict]) -> str:
    """A multi-document YAML file, keys in Kubernetes' usual order, ready for `kubectl apply -f`."""
    return yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False)


def deployment_manifests_file(*, deployment: Deployment) -> tuple[str, str]:
    """(file name, YAML text) of "Show YAML" as a download; raises as deployment_manifests does."""
    text = manifests_yaml(deployment_manifests(deployment=deployment))
    return f"{deployment.team.slug}-{deployment.name}.yaml", text
