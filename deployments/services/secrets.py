"""Team secrets: set (create or rotate) and delete. Values are write-only; the audit row holds the
name and whether it was created or rotated, never the value. Rotating a secret rolls the
deployments that inject it; deleting one that is in use is refused."""

from django.core.exceptions import ValidationError
from django.db import transaction

from controlplane.exceptions import ApplicationError
from controlplane.tenancy.services import audit_record
from deployments.models import TeamSecret
from deployments.models.secrets import SECRET_NAME_VALIDATOR
from deployments.selectors.secrets import secret_users
from deployments.services.deployments import deployments_roll_for_secret

MAX_SECRET_BYTES = 64 * 1024  # a Kubernetes Secret holds at most 1 MiB; tokens are far smaller


@transaction.atomic
def secret_set(*, team, name: str, value: str, actor) -> TeamSecret:
    try:
        SECRET_NAME_VALIDATOR(name)
    except ValidationError as exc:
        raise ApplicationError(" ".join(exc.messages), extra={"field": "name"}) from exc
    if len(name) > TeamSecret._meta.get_field("name").max_length:  # PUT takes the name from the URL
        raise ApplicationError("A secret name is at most 100 characters.", extra={"field": "name"})
    if value == "":
        raise ApplicationError("A secret needs a value.", extra={"field": "value"})
    if len(value.encode()) > MAX_SECRET_BYTES:
        raise ApplicationError(f"A secret is at most {MAX_SECRET_BYTES} bytes.", extra={"field": "value"})
    secret = TeamSecret.objects.select_for_update().filter(team=team, name=name).first()
    created = secret is None
    if created:
        secret = TeamSecret(team=team, name=name)
    secret.set_value(value)
    secret.updated_by = actor
    secret.save()
    audit_record(
        actor=actor,
        action="secret.create" if created else "secret.rotate",
        resource_type="secret",
        resource_id=name,
        team=team,
        parameters={"name": name},
    )
    if not created:
        deployments_roll_for_secret(deployments=secret_users(team=team, name=name), name=name, actor=actor)
    return secret


@transaction.atomic
def secret_delete(*, secret: TeamSecret, actor) -> None:
    team, name = secret.team, secret.name
    users = secret_users(team=team, name=name)
    if users:
        raise ApplicationError(
            f"Secret {name} is in use by {', '.join(d.name for d in users)}; remove it from "
            "their spec (or delete them) first.",
            extra={"field": "name"},
            code="conflict",
        )
    secret.delete()
    audit_record(
        actor=actor,
        action="secret.delete",
        resource_type="secret",
        resource_id=name,
        team=team,
        parameters={"name": name},
    )
