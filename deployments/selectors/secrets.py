from django.db.models import QuerySet

from controlplane.crypto import SecretUnreadable
from deployments.choices import DeploymentStatus, DesiredState
from deployments.models import Deployment, TeamSecret


def secret_list(*, team) -> QuerySet[TeamSecret]:
    """Names and last change only: the encrypted value is deferred so no listing ever loads it."""
    return TeamSecret.objects.filter(team=team).defer("encrypted_value").select_related("updated_by")


def secret_env_for(*, team, refs: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The environment entries a replica gets for its secret references, values decrypted. Only the
    replica start path calls this. Raises LookupError naming a secret that no longer exists or
    cannot be read."""
    if not refs:
        return ()
    values = {s.name: s for s in TeamSecret.objects.filter(team=team, name__in=set(refs.values()))}
    missing = sorted(set(refs.values()) - set(values))
    if missing:
        raise LookupError(f"The team secret {missing[0]!r} this deployment uses no longer exists.")
    entries = []
    for env_name, name in refs.items():
        try:
            entries.append((env_name, values[name].reveal()))
        except SecretUnreadable:
            raise LookupError(
                f"The team secret {name!r} cannot be decrypted with the current key; set it again."
            ) from None
    return tuple(sorted(entries))


def secret_users(*, team, name: str) -> list[Deployment]:
    """The team's live deployments whose current revision injects the secret."""
    live = (
        Deployment.objects.filter(team=team)
        .exclude(status=DeploymentStatus.DELETED)
        .exclude(desired_state=DesiredState.DELETED)
        .select_related("current_revision")
        .order_by("name")
    )
    return [d for d in live if d.current_revision and name in d.current_revision.secrets.values()]
