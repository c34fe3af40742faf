"""The audit log: append-only, hash-chained, purged by retention.

Every mutating service calls `audit_record` inside its own transaction, so the event exists exactly
when the change does. Requests that fail get one failure event from the API error handler."""

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from controlplane.tenancy.context import current_request_context
from controlplane.tenancy.models import AuditChain, AuditEvent, AuditResult

logger = logging.getLogger(__name__)

_SENSITIVE_KEY = re.compile(
    r"pass(word)?|secret|token|credential|kubeconfig|private|api_?key|authorization", re.I
)
_SAFE_SUFFIXES = ("_id", "_prefix", "_name", "_count")
MASK = "***"


def is_sensitive_name(name) -> bool:
    """The one rule for names whose values are never shown: audit parameters and deployment env."""
    name = str(name)
    return bool(_SENSITIVE_KEY.search(name)) and not name.lower().endswith(_SAFE_SUFFIXES)


def mask_secrets(value):
    """Parameters as they go into the log: values under secret-looking keys become ***."""
    if isinstance(value, dict):
        return {k: MASK if is_sensitive_name(k) else mask_secrets(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_secrets(v) for v in value]
    return value


# PostgreSQL refuses NUL in text and jsonb, and lone surrogates cannot be encoded as UTF-8: a
# refused request that carried one (an upload named "a\x00b") must still leave its audit row.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(value):
    """Strings with NUL or lone surrogates written as the escape `\\u0000` (six characters)."""
    if isinstance(value, str):
        return _UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", value)
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)


def audit_event_digest(event: AuditEvent) -> str:
    content = {
        "seq": event.seq,
        "created_at": event.created_at.isoformat(),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "token_id": event.token_id,
        "team_id": event.team_id,
        "team_slug": event.team_slug,
        "resource_type": event.resource_type,
        "resource_id": event.resource_id,
        "action": event.action,
        "parameters": event.parameters,
        "result": event.result,
        "error": event.error,
        "client_address": event.client_address,
        "request_id": event.request_id,
        "prev_hash": event.prev_hash,
    }
    return hashlib.sha256(_canonical(content).encode()).hexdigest()


def _chain_for_update() -> AuditChain:
    """The chain row, locked. The migration creates it; after a database flush the first writer does."""
    chain = AuditChain.objects.select_for_update().filter(pk=1).first()
    if chain is None:
        AuditChain.objects.get_or_create(pk=1)
        chain = AuditChain.objects.select_for_update().get(pk=1)
    return chain


def _actor_label(actor) -> str:
    ctx = current_request_context()
    if actor is None:
        return "system"
    label = actor.get_username()
    return f"{label} (token cpt_{ctx.token_prefix})" if ctx.token_prefix else label


@transaction.atomic
def audit_record(
    *,
    actor,
    action: str,
    resource_type: str,
    resource_id: object = "",
    team=None,
    parameters: dict | None = None,
    result: str = AuditResult.SUCCESS,
    error: str = "",
) -> AuditEvent:
    """Append one event to the chain. Writers serialise on the chain row, so seq has no gaps."""
    ctx = current_request_context()
    chain = _chain_for_update()
    # Round-trip through JSON so the stored value hashes the same when read back.
    params = _storable(json.loads(_canonical(mask_secrets(parameters or {}))))
    event = AuditEvent(
        seq=chain.head_seq + 1,
        created_at=timezone.now(),
        actor_id=actor.pk if actor is not None else None,
        actor_label=_actor_label(actor),
        token_id=ctx.token_id,
        team_id=team.pk if team is not None else None,
        team_slug=team.slug if team is not None else "",
        resource_type=resource_type,
        resource_id=_storable(str(resource_id))[:100],  # a refused request's id is what the URL said
        action=_storable(action)[:80],
        parameters=params,
        result=result,
        error=_storable(error)[:2000],
        client_address=ctx.client_address,
        request_id=ctx.request_id,
        prev_hash=chain.head_hash,
    )
    event.hash = audit_event_digest(event)
    event.save()
    AuditChain.objects.filter(pk=1).update(head_seq=event.seq, head_hash=event.hash)
    return event


_UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def audit_record_failed_request(*, request, view, error: dict) -> None:
    """One failure event for a mutating API request that was refused. Anonymous callers are only
    logged: recording them would let anyone fill the audit log."""
    if request is None or request.method not in _UNSAFE_METHODS:
        return
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        logger.info("tenancy.audit.anonymous_refused", extra={"path": request.path})
        return
    action = getattr(view, "audit_actions", {}).get(
        request.method, f"{request.method.lower()} {request.path}"
    )
    parameters = {}
    if getattr(view, "audit_request_body", True):  # raw file bodies are bytes, not parameters
        try:
            parameters = dict(request.data) if hasattr(request.data, "keys") else {}
        except Exception:  # an unreadable body is itself the error being recorded
            parameters = {}
    kwargs = getattr(view, "kwargs", {}) or {}
    audit_record(
        actor=user,
        action=action,
        resource_type=getattr(view, "audit_resource", "api"),
        resource_id=kwargs.get("pk") or kwargs.get("slug") or "",
        team=getattr(view, "team", None),
        parameters=parameters,
        result=AuditResult.FAILURE,
        error=error.get("message", ""),
    )


@dataclass(frozen=True, slots=True)
class ChainProblem:
    seq: int
    message: str


def audit_verify() -> tuple[int, list[ChainProblem]]:
    """Walk the chain from the retention anchor to the head. Returns (rows checked, problems)."""
    chain, _ = AuditChain.objects.get_or_create(pk=1)
    problems: list[ChainProblem] = []
    expected_seq, expected_prev = chain.purged_through_seq + 1, chain.purged_through_hash
    checked = 0
    for event in AuditEvent.objects.filter(seq__gt=chain.purged_through_seq).order_by("seq").iterator(2000):
        checked += 1
        if event.seq != expected_seq:
            missing = (
                f"#{expected_seq}"
                if event.seq == expected_seq + 1
                else f"#{expected_seq} to #{event.seq - 1}"
            )
            problems.append(
                ChainProblem(expected_seq, f"row {missing} deleted (sequence jumps to #{event.seq})")
            )
        elif event.prev_hash != expected_prev:
            problems.append(
                ChainProblem(event.seq, f"row #{event.seq} does not link to row #{event.seq - 1}")
            )
        if audit_event_digest(event) != event.hash:
            problems.append(
                ChainProblem(event.seq, f"row #{event.seq} edited (its content no longer matches its hash)")
            )
        expected_seq, expected_prev = event.seq + 1, event.hash
    if expected_seq <= chain.head_seq:
        missing = (
            f"#{expected_seq}" if expected_seq == chain.head_seq else f"#{expected_seq} to #{chain.head_seq}"
        )
        problems.append(
            ChainProblem(expected_seq, f"row {missing} deleted (the chain's head is #{chain.head_seq})")
        )
    elif expected_prev != chain.head_hash:
        problems.append(
            ChainProblem(expected_seq - 1, f"row #{expected_seq - 1} does not match the chain's head")
        )
    return checked, problems


@transaction.atomic
def audit_purge(*, now=None, retention_days: int | None = None) -> int:
    """Delete events older than the retention period and move the chain's anchor past them.
    Idempotent: a second run the same day finds nothing to delete and records nothing."""
    days = settings.AUDIT_RETENTION_DAYS if retention_days is None else retention_days
    cutoff = (now or timezone.now()) - timedelta(days=days)
    _chain_for_update()
    last = AuditEvent.objects.filter(created_at__lt=cutoff).order_by("-seq").values("seq", "hash").first()
    if last is None:
        return 0
    # Delete through seq, not by date, so the anchor is always the last row removed.
    deleted, _ = AuditEvent.objects.filter(seq__lte=last["seq"]).delete()
    AuditChain.objects.filter(pk=1).update(purged_through_seq=last["seq"], purged_through_hash=last["hash"])
    audit_record(
        actor=None,
        action="audit.purge",
        resource_type="audit_event",
        parameters={"retention_days": days, "cutoff": cutoff, "deleted": deleted, "through_seq": last["seq"]},
    )
    logger.info("tenancy.audit.purged", extra={"deleted": deleted, "through_seq": last["seq"]})
    return deleted
