"""How a deployment names the team secrets its replicas receive. `secrets: [HF_TOKEN]` injects each
secret under its own name; `secrets: {MODEL_TOKEN: HF_TOKEN}` under another. Only names are kept in
the revision; the reconciler reads the values when it starts replicas."""

from controlplane.exceptions import ApplicationError
from deployments.models import TeamSecret
from deployments.services.env import ENV_NAME, env_reserved_reason


def secret_refs_normalize(refs) -> dict[str, str]:
    """A list of names or a mapping of environment name → secret name, as {env name: secret name}."""
    if refs in (None, "", [], {}):
        return {}
    if isinstance(refs, list | tuple) and all(isinstance(n, str) for n in refs):
        return {name: name for name in refs}
    if isinstance(refs, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in refs.items()):
        return dict(refs)
    raise ApplicationError(
        "secrets is a list of team secret names, or a mapping of environment variable name to secret name.",
        extra={"field": "secrets"},
    )


def secret_refs_validate(*, team, refs: dict[str, str], env: dict) -> None:
    """Raise a field error `secrets.<NAME>` for the first reference a replica could not receive."""
    wanted = set(refs.values())
    known = set(TeamSecret.objects.filter(team=team, name__in=wanted).values_list("name", flat=True))
    for env_name, secret_name in refs.items():
        field = f"secrets.{env_name}"[:150]
        if not ENV_NAME.fullmatch(env_name):
            raise ApplicationError(
                "Environment variable names use A-Z, 0-9 and _, and do not start with a digit.",
                extra={"field": field},
            )
        reason = env_reserved_reason(env_name)
        if reason:
            raise ApplicationError(reason, extra={"field": field})
        if env_name in env:
            raise ApplicationError(
                f"{env_name} is set in env too; a variable comes from env or from a secret, not both.",
                extra={"field": field},
            )
        if secret_name not in known:
            raise ApplicationError(
                f"Team {team.slug} has no secret named {secret_name!r}; set it first "
                f"(controlplane secrets set {secret_name}).",
                extra={"field": field},
            )
