"""Every state change of the model registry: create a version, stream files in (one shot or
resumable), complete, inspect, delete. Bad input leaves nothing behind: staging files are removed
and no row is written unless the bytes were accepted."""

import fcntl
import hashlib
import json
import logging
import re
import tempfile
from datetime import timedelta
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Sum
from django.utils import timezone

from controlplane.exceptions import ApplicationError
from controlplane.tenancy.models import AuditResult, Team
from controlplane.tenancy.services import audit_record
from deployments.choices import ArtifactFormat, ArtifactStatus
from deployments.inspection import InspectionError
from deployments.inspection.archives import MemberNameError, extract_archive, is_archive, list_archive
from deployments.inspection.huggingface import inspect_huggingface
from deployments.inspection.names import (
    MAX_CONFIG_BYTES,
    code_file_problem,
    is_hf_config,
    remote_code_problem,
    show,
    upload_path_problem,
)
from deployments.inspection.onnx_model import inspect_onnx
from deployments.models import ArtifactFile, ModelArtifact, RegistryPolicy, UploadSession
from deployments.models.artifacts import NAME_VALIDATOR
from deployments.storage import (
    artifact_storage,
    s3_head,
    storage_delete_prefix,
    storage_local_copy,
    storage_read_range,
    storage_save,
)

logger = logging.getLogger(__name__)

READ_CHUNK = 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+$")


# ---- rules shared by the upload paths --------------------------------------------------------


def _staging_dir() -> Path:
    settings.UPLOAD_STAGING_DIR.mkdir(parents=True, exist_ok=True)
    return settings.UPLOAD_STAGING_DIR


def _clean_path(path: str, *, field: str = "path") -> str:
    """The one name rule (deployments.inspection.names); names are refused, never rewritten, so a
    file has one spelling."""
    problem = upload_path_problem(path)
    if problem:
        raise ApplicationError(f"Invalid file path {show(path)}: {problem}.", extra={"field": field})
    return path


def _policy(team: Team) -> RegistryPolicy | None:
    return RegistryPolicy.objects.filter(team=team).first()


def _allows_code(team: Team) -> bool:
    policy = _policy(team)
    return bool(policy and policy.allow_code_files)


def _refuse_code_file(artifact: ModelArtifact, path: str, *, field: str = "path") -> None:
    """Model folders carry no code unless a platform admin allowed it for the team (issue 10: a
    sitecustomize.py in the folder ran as the control plane once PYTHONPATH pointed there)."""
    if _allows_code(artifact.team):
        return
    problem = code_file_problem(path)
    if problem:
        raise ApplicationError(f"Refused: {problem}.", extra={"field": field})


def _check_content(artifact: ModelArtifact, path: str, staged: Path) -> None:
    """What the bytes of a finished upload may not hold: archive members with bad names or code,
    and Hugging Face configs that need trust_remote_code. Checked before anything is stored."""
    allow_code = _allows_code(artifact.team)
    configs: dict[str, bytes] = {}
    if is_archive(path):
        try:
            listing = list_archive(
                staged,
                name=path,
                limit=min(_limit(artifact.team), max(staged.stat().st_size, 1) * settings.ARCHIVE_MAX_RATIO),
                max_files=settings.ARCHIVE_MAX_FILES,
            )
        except MemberNameError as exc:
            raise ApplicationError(f"{path}: {exc}", extra={"field": "path", "member": exc.member}) from None
        if listing is None:
            return  # unreadable: inspection rejects it with the reason
        if not allow_code:
            for member in listing.files:
                if problem := code_file_problem(member):
                    raise ApplicationError(f"Refused {path}: {problem}.", extra={"field": "path"})
        configs = listing.configs
    elif is_hf_config(path) and staged.stat().st_size <= MAX_CONFIG_BYTES:
        configs = {path: staged.read_bytes()}
    if allow_code or artifact.format != ArtifactFormat.HUGGINGFACE:
        return
    for name, raw in configs.items():
        try:
            config = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue  # inspection rejects malformed JSON with its own reason
        if problem := remote_code_problem(name, config):
            where = name if name == path else f"{name} in {path}"
            raise ApplicationError(f"Refused {where}: {problem}.", extra={"field": "path"})


def _clean_sha256(value: str, *, field: str) -> str:
    value = (value or "").strip().lower()
    if value and not _SHA256.match(value):
        raise ApplicationError("A SHA-256 checksum is 64 hexadecimal characters.", extra={"field": field})
    return value


def _limit(team: Team) -> int:
    policy = RegistryPolicy.objects.filter(team=team).first()
    return policy.max_artifact_bytes if policy and policy.max_artifact_bytes else settings.ARTIFACT_MAX_BYTES


def _check_room(artifact: ModelArtifact, adding: int, *, path: str, field: str) -> None:
    stored = artifact.files.exclude(path=path).aggregate(total=Sum("size_bytes"))["total"] or 0
    pending = artifact.uploads.exclude(path=path).aggregate(total=Sum("size_bytes"))["total"] or 0
    limit = _limit(artifact.team)
    if stored + pending + adding > limit:
        raise ApplicationError(
            f"This upload would make the model {stored + pending + adding:,} bytes, over the team's limit of "
            f"{limit:,} bytes.",
            extra={"field": field},
        )


def _require_uploading(artifact: ModelArtifact) -> None:
    if artifact.status != ArtifactStatus.UPLOADING:
        raise ApplicationError(
            f"Version {artifact.version} is {artifact.status}; "
            "files can only be added while it is uploading. Create a new version instead.",
            extra={"field": "status"},
            code="conflict",
        )


def _audit(actor, action: str, artifact: ModelArtifact, **parameters) -> None:
    audit_record(
        actor=actor,
        action=action,
        resource_type="model_artifact",
        resource_id=artifact.pk,
        team=artifact.team,
        parameters={"name": artifact.name, "version": artifact.version, **parameters},
    )


# ---- versions ----------------------------------------------------------------------------------


@transaction.atomic
def artifact_create(*, team: Team, actor, name: str, format: str, description: str = "") -> ModelArtifact:
    """A new version of `name` in the team, waiting for files. Versions increase per name."""
    try:
        NAME_VALIDATOR(name)
    except ValidationError as exc:
        raise ApplicationError(
            f"Invalid model name {name!r}. {exc.messages[0]}", extra={"field": "name"}
        ) from exc
    if format not in ArtifactFormat.values:
        raise ApplicationError(
            f"Unknown format {format!r}; use onnx or huggingface.", extra={"field": "format"}
        )
    Team.objects.select_for_update().get(pk=team.pk)  # serialises version numbering within the team
    latest = ModelArtifact.objects.filter(team=team, name=name).aggregate(v=Max("version"))["v"] or 0
    artifact = ModelArtifact.objects.create(
        team=team, name=name, version=latest + 1, format=format, description=description, created_by=actor
    )
    _audit(actor, "model.create", artifact, format=format)
    return artifact


@transaction.atomic
def artifact_register_uri(
    *, team: Team, actor, name: str, format: str, uri: str, description: str = ""
) -> ModelArtifact:
    """Register a model already in S3: checked to exist and sized now, copied and inspected by a task."""
    if not _S3_URI.match(uri or ""):
        raise ApplicationError("Use an s3://bucket/key URI.", extra={"field": "source_uri"})
    try:
        objects = s3_head(uri)
    except Exception as exc:  # botocore raises many types; all mean "cannot read it"
        raise ApplicationError(f"Cannot read {uri}: {exc}", extra={"field": "source_uri"}) from exc
    if not objects:
        raise ApplicationError(f"Nothing exists at {uri}.", extra={"field": "source_uri"})
    key = uri.removeprefix("s3://").partition("/")[2]
    allow_code = _allows_code(team)
    for object_key, _ in objects:
        rel = _s3_relative(key, object_key)
        problem = upload_path_problem(rel) or (None if allow_code else code_file_problem(rel))
        if problem:
            raise ApplicationError(
                f"Cannot register {uri}: the object {show(object_key)} cannot be a model file: {problem}.",
                extra={"field": "source_uri"},
            )
    size = sum(s for _, s in objects)
    if size > _limit(team):
        raise ApplicationError(
            f"{uri} holds {size:,} bytes, over the team's limit of {_limit(team):,}.",
            extra={"field": "source_uri"},
        )
    artifact = artifact_create(team=team, actor=actor, name=name, format=format, description=description)
    ModelArtifact.objects.filter(pk=artifact.pk).update(
        source_uri=uri, size_bytes=size, status=ArtifactStatus.VALIDATING
    )
    _audit(actor, "model.register_uri", artifact, uri=uri, objects=len(objects), size_bytes=size)
    _enqueue_inspection(artifact.pk)
    artifact.refresh_from_db()
    return artifact


@transaction.atomic
def artifact_complete(*, artifact: ModelArtifact, actor) -> ModelArtifact:
    """All files are in: freeze the version and start inspection."""
    _require_uploading(artifact)
    open_uploads = list(artifact.uploads.values_list("path", flat=True))
    if open_uploads:
        raise ApplicationError(
            f"Uploads still in progress: {', '.join(open_uploads)}.", extra={"field": "uploads"}
        )
    files = list(artifact.files.order_by("path"))
    if not files:
        raise ApplicationError("Upload at least one file before completing.", extra={"field": "files"})
    updated = ModelArtifact.objects.filter(pk=artifact.pk, status=ArtifactStatus.UPLOADING).update(
        status=ArtifactStatus.VALIDATING, **_manifest(files)
    )
    if not updated:
        raise ApplicationError(
            "This version was completed already.", extra={"field": "status"}, code="conflict"
        )
    _audit(actor, "model.complete", artifact, files=len(files))
    _enqueue_inspection(artifact.pk)
    artifact.refresh_from_db()
    return artifact


def _manifest(files: list[ArtifactFile]) -> dict:
    if len(files) == 1:
        return {"size_bytes": files[0].size_bytes, "sha256": files[0].sha256}
    digest = hashlib.sha256("".join(f"{f.path}\0{f.sha256}\n" for f in files).encode()).hexdigest()
    return {"size_bytes": sum(f.size_bytes for f in files), "sha256": digest}


def _enqueue_inspection(artifact_id: int) -> None:
    from deployments.tasks import inspect_artifact_task

    transaction.on_commit(lambda: inspect_artifact_task.delay(artifact_id))


@transaction.atomic
def artifact_delete(*, artifact: ModelArtifact, actor) -> None:
    """Delete a version and its bytes. Open uploads go with it. Refused while a deployment that is
    not deleted has a revision of it (it runs it, or could roll back to it)."""
    from deployments.choices import DeploymentStatus

    users = sorted(
        set(
            artifact.revisions.exclude(deployment__status=DeploymentStatus.DELETED).values_list(
                "deployment__name", flat=True
            )
        )
    )
    if users:
        raise ApplicationError(
            f"{artifact.name} v{artifact.version} is used by deployment{'s' if len(users) > 1 else ''} "
            f"{', '.join(users)}; delete them or move them to another version first.",
            extra={"field": "artifact"},
            code="conflict",
        )
    for session in artifact.uploads.all():
        _staging_path(session).unlink(missing_ok=True)
    _audit(actor, "model.delete", artifact, size_bytes=artifact.size_bytes)
    prefix = artifact.storage_prefix
    artifact.delete()
    transaction.on_commit(lambda: storage_delete_prefix(prefix))


@transaction.atomic
def registry_policy_update(*, team: Team, actor, **changes) -> RegistryPolicy:
    policy, _ = RegistryPolicy.objects.get_or_create(team=team)
    before = {k: getattr(policy, k) for k in changes}
    for key, value in changes.items():
        setattr(policy, key, value)
    policy.save()
    audit_record(
        actor=actor,
        action="model.policy_update",
        resource_type="registry_policy",
        resource_id=policy.pk,
        team=team,
        parameters={"before": before, "after": changes},
    )
    return policy


# ---- bytes in ----------------------------------------------------------------------------------


def _stream_to(target, stream, length: int, hasher=None) -> int:
    """Copy up to `length` bytes in fixed chunks; returns how many arrived (fewer when cut off)."""
    received = 0
    while received < length:
        chunk = stream.read(min(READ_CHUNK, length - received))
        if not chunk:
            break
        target.write(chunk)
        if hasher is not None:
            hasher.update(chunk)
        received += len(chunk)
    return received


def artifact_file_put(
    *, artifact: ModelArtifact, actor, path: str, stream, length: int | None, sha256: str = ""
) -> ArtifactFile:
    """One-shot upload of one file. SHA-256 is computed while streaming; a short body (the client
    hung up) or a checksum mismatch leaves nothing behind."""
    path = _clean_path(path)
    expected = _clean_sha256(sha256, field="X-Checksum-SHA256")
    _refuse_code_file(artifact, path)
    if length is None:
        raise ApplicationError(
            "Send a Content-Length header with the file.", extra={"field": "Content-Length"}
        )
    _require_uploading(artifact)
    _check_room(artifact, length, path=path, field="Content-Length")
    hasher = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=_staging_dir(), suffix=".part", delete=False) as tmp:
        staged = Path(tmp.name)
        received = _stream_to(tmp, stream, length, hasher)
    try:
        if received != length:
            raise ApplicationError(
                f"Upload truncated: received {received:,} of {length:,} bytes.",
                extra={"field": "Content-Length"},
            )
        digest = hasher.hexdigest()
        if expected and digest != expected:
            raise ApplicationError(
                f"Checksum mismatch: the bytes hash to {digest}, not {expected}.",
                extra={"field": "X-Checksum-SHA256"},
            )
        _check_content(artifact, path, staged)
        return _store_file(
            artifact=artifact, actor=actor, path=path, staged=staged, size=length, sha256=digest
        )
    finally:
        staged.unlink(missing_ok=True)


@transaction.atomic
def _store_file(*, artifact, actor, path: str, staged: Path, size: int, sha256: str) -> ArtifactFile:
    artifact = ModelArtifact.objects.select_for_update().get(pk=artifact.pk)
    _require_uploading(artifact)
    storage_save(f"{artifact.storage_prefix}/{path}", staged)
    file, _ = ArtifactFile.objects.update_or_create(
        artifact=artifact, path=path, defaults={"size_bytes": size, "sha256": sha256}
    )
    _audit(actor, "model.file_upload", artifact, path=path, size_bytes=size, sha256=sha256)
    return file


def _staging_path(session: UploadSession) -> Path:
    return _staging_dir() / f"{session.pk}.part"


@transaction.atomic
def upload_start(*, artifact: ModelArtifact, actor, path: str, size: int, sha256: str = "") -> UploadSession:
    """Open a resumable upload of one file of `size` bytes; chunks go to upload_append."""
    path = _clean_path(path)
    expected = _clean_sha256(sha256, field="sha256")
    _refuse_code_file(artifact, path)
    if size < 0:
        raise ApplicationError("The size cannot be negative.", extra={"field": "size"})
    _require_uploading(artifact)
    _check_room(artifact, size, path=path, field="size")
    if artifact.uploads.filter(path=path).exists():
        raise ApplicationError(
            f"An upload of {path} is already open; resume it or abort it.",
            extra={"field": "path"},
            code="conflict",
        )
    session = UploadSession.objects.create(
        artifact=artifact, path=path, size_bytes=size, expected_sha256=expected, created_by=actor
    )
    _staging_path(session).touch()
    _audit(actor, "model.upload_start", artifact, path=path, size_bytes=size)
    return session


def upload_append(*, session: UploadSession, actor, offset: int | None, stream, length: int | None):
    """Append a chunk at `offset`, which must equal the bytes already received (else 409 and the
    current offset). A chunk cut off mid-way keeps what arrived: the client resumes from the new
    offset. The last byte finishes the file: checksum, then storage. Returns (session or None,
    file or None)."""
    if offset is None:
        raise ApplicationError("Send the Upload-Offset header.", extra={"field": "Upload-Offset"})
    if length is None:
        raise ApplicationError(
            "Send a Content-Length header with the chunk.", extra={"field": "Content-Length"}
        )
    staging = _staging_path(session)
    with open(staging, "r+b") as target:
        try:
            fcntl.flock(target, fcntl.LOCK_EX | fcntl.LOCK_NB)  # one writer per upload
        except BlockingIOError:
            raise ApplicationError(
                "Another request is writing to this upload.",
                extra={"field": "Upload-Offset"},
                code="conflict",
            ) from None
        session.refresh_from_db()
        if offset != session.offset:
            raise ApplicationError(
                f"Wrong offset {offset}: the upload has {session.offset} bytes; resume from there.",
                extra={"field": "Upload-Offset", "offset": session.offset},
                code="conflict",
            )
        if offset + length > session.size_bytes:
            raise ApplicationError(
                f"The chunk would end at byte {offset + length:,}, "
                f"past the declared size {session.size_bytes:,}.",
                extra={"field": "Content-Length"},
            )
        target.truncate(offset)  # drop bytes of a previous chunk that was never acknowledged
        target.seek(offset)
        received = _stream_to(target, stream, length)
        target.flush()
        UploadSession.objects.filter(pk=session.pk, offset=offset).update(
            offset=offset + received, updated_at=timezone.now()
        )
        session.offset = offset + received
    if session.offset < session.size_bytes:
        return session, None
    return None, _finish_upload(session=session, actor=actor)


def _file_sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(READ_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _finish_upload(*, session: UploadSession, actor) -> ArtifactFile:
    staging = _staging_path(session)
    digest = _file_sha256(staging)
    if session.expected_sha256 and digest != session.expected_sha256:
        staging.unlink(missing_ok=True)
        UploadSession.objects.filter(pk=session.pk).delete()
        raise ApplicationError(
            f"Checksum mismatch for {session.path}: the bytes hash to {digest}, "
            f"not {session.expected_sha256}. The upload was discarded.",
            extra={"field": "sha256"},
        )
    try:
        _check_content(session.artifact, session.path, staging)
    except ApplicationError as exc:
        staging.unlink(missing_ok=True)
        UploadSession.objects.filter(pk=session.pk).delete()
        raise ApplicationError(f"{exc.message} The upload was discarded.", extra=exc.extra) from None
    with transaction.atomic():
        file = _store_file(
            artifact=session.artifact,
            actor=actor,
            path=session.path,
            staged=staging,
            size=session.size_bytes,
            sha256=digest,
        )
        UploadSession.objects.filter(pk=session.pk).delete()
    return file


@transaction.atomic
def upload_abort(*, session: UploadSession, actor) -> None:
    _staging_path(session).unlink(missing_ok=True)
    _audit(actor, "model.upload_abort", session.artifact, path=session.path, received=session.offset)
    session.delete()


# ---- inspection --------------------------------------------------------------------------------


def artifact_inspect(*, artifact_id: int) -> ModelArtifact | None:
    """Import (for s3:// registrations), unpack archives, inspect, then mark ready or rejected.
    Trigger: inspect_artifact_task after complete or register. Idempotent: only a version still
    `validating` is inspected, and the outcome is a compare-and-set from that status."""
    artifact = ModelArtifact.objects.select_related("team").filter(pk=artifact_id).first()
    if artifact is None or artifact.status != ArtifactStatus.VALIDATING:
        return artifact
    try:
        if artifact.source_uri and not artifact.files.exists():
            _import_from_uri(artifact)
        if artifact.files.count() == 1 and is_archive(artifact.files.get().path):
            _unpack_archive(artifact)
        facts = _inspect(artifact)
    except InspectionError as exc:
        return _reject(artifact, str(exc))
    updated = ModelArtifact.objects.filter(pk=artifact.pk, status=ArtifactStatus.VALIDATING).update(
        status=ArtifactStatus.READY,
        inspection=facts,
        parameter_count=facts.get("parameter_count"),
        ready_at=timezone.now(),
        status_reason="",
        **_manifest(list(artifact.files.all())),
    )
    if updated:
        audit_record(
            actor=None,
            action="model.inspect",
            resource_type="model_artifact",
            resource_id=artifact.pk,
            team=artifact.team,
            parameters={
                "name": artifact.name,
                "version": artifact.version,
                "parameter_count": facts.get("parameter_count"),
            },
        )
    artifact.refresh_from_db()
    return artifact


def artifact_mark_rejected(*, artifact_id: int, reason: str) -> None:
    """Final failure of the inspection task (a crash, not a verdict): reject with the reason."""
    artifact = ModelArtifact.objects.select_related("team").filter(pk=artifact_id).first()
    if artifact is not None and artifact.status == ArtifactStatus.VALIDATING:
        _reject(artifact, f"Inspection failed unexpectedly: {reason}")


@transaction.atomic
def _reject(artifact: ModelArtifact, reason: str) -> ModelArtifact:
    """Rejected versions keep their row (the reason is what the user needs) but none of their bytes."""
    updated = ModelArtifact.objects.filter(pk=artifact.pk, status=ArtifactStatus.VALIDATING).update(
        status=ArtifactStatus.REJECTED, status_reason=reason, size_bytes=0
    )
    if updated:
        artifact.files.all().delete()
        prefix = artifact.storage_prefix
        transaction.on_commit(lambda: storage_delete_prefix(prefix))
        audit_record(
            actor=None,
            action="model.inspect",
            resource_type="model_artifact",
            resource_id=artifact.pk,
            team=artifact.team,
            parameters={"name": artifact.name, "version": artifact.version},
            result=AuditResult.FAILURE,
            error=reason,
        )
    artifact.refresh_from_db()
    return artifact


def _import_from_uri(artifact: ModelArtifact) -> None:
    import boto3

    bucket, _, key = artifact.source_uri.removeprefix("s3://").partition("/")
    client = boto3.client(
        "s3", endpoint_url=settings.AWS_S3_ENDPOINT_URL, region_name=settings.AWS_S3_REGION_NAME
    )
    objects = s3_head(artifact.source_uri)
    if not objects:
        raise InspectionError(f"{artifact.source_uri} no longer exists.")
    for object_key, size in objects:
        rel = _s3_relative(key, object_key)
        if problem := upload_path_problem(rel):  # checked at registration; the bucket may have changed since
            raise InspectionError(f"The object {show(object_key)} cannot be a model file: {problem}.")
        with tempfile.NamedTemporaryFile(dir=_staging_dir(), suffix=".part", delete=False) as tmp:
            staged = Path(tmp.name)
        try:
            client.download_file(bucket, object_key, str(staged))
            _store_imported(artifact, rel, staged, size)
        finally:
            staged.unlink(missing_ok=True)


def _s3_relative(key: str, object_key: str) -> str:
    """An object's path in the model folder: its name when the URI is the object, else its key
    below the URI's folder."""
    return PurePosixPath(object_key).name if object_key == key else object_key[len(key.rstrip("/")) + 1 :]


def _store_imported(artifact: ModelArtifact, rel: str, staged: Path, size: int) -> None:
    digest = _file_sha256(staged)
    storage_save(f"{artifact.storage_prefix}/{rel}", staged)
    ArtifactFile.objects.update_or_create(
        artifact=artifact, path=rel, defaults={"size_bytes": size, "sha256": digest}
    )


def _unpack_archive(artifact: ModelArtifact) -> None:
    archive = artifact.files.get()
    with (
        storage_local_copy({archive.path: f"{artifact.storage_prefix}/{archive.path}"}) as root,
        tempfile.TemporaryDirectory(dir=_staging_dir()) as out,
    ):
        members = extract_archive(
            root / archive.path,
            Path(out),
            max_bytes=_limit(artifact.team),
            max_ratio=settings.ARCHIVE_MAX_RATIO,
            max_files=settings.ARCHIVE_MAX_FILES,
        )
        if not members:
            raise InspectionError("The archive is empty.")
        for rel in members:
            _store_imported(
                artifact, str(PurePosixPath(*rel.parts)), Path(out) / rel, (Path(out) / rel).stat().st_size
            )
    artifact_storage().delete(f"{artifact.storage_prefix}/{archive.path}")
    archive.delete()


def _inspect(artifact: ModelArtifact) -> dict:
    files = {f.path: f.size_bytes for f in artifact.files.all()}
    prefix = artifact.storage_prefix
    policy = _policy(artifact.team)
    allow_code = bool(policy and policy.allow_code_files)
    # Uploads are refused at the door; this is the verdict for what came another way (an S3
    # folder, an archive) or while the policy allowed code.
    if not allow_code:
        for path in sorted(files):
            if problem := code_file_problem(path):
                raise InspectionError(f"Refused: {problem}.")
    if artifact.format == ArtifactFormat.ONNX:
        models = [p for p in files if p.endswith(".onnx")]
        if len(models) != 1:
            found = ", ".join(models) if models else "none"
            raise InspectionError(f"An ONNX upload needs exactly one .onnx file (found: {found}).")
        with storage_local_copy({p: f"{prefix}/{p}" for p in files}) as root:
            return inspect_onnx(root / models[0])

    def reader(p: str, start: int, n: int) -> bytes:
        return storage_read_range(f"{prefix}/{p}", start, n)

    return inspect_huggingface(
        files,
        reader,
        allow_pickle=bool(policy and policy.allow_pickle_weights),
        allow_remote_code=allow_code,
    )


def upload_expire(*, older_than_hours: int = 48) -> int:
    """Drop resumable uploads nobody touched for this long, with their staging files."""
    cutoff = timezone.now() - timedelta(hours=older_than_hours)
    stale = list(UploadSession.objects.filter(updated_at__lt=cutoff).select_related("artifact__team"))
    for session in stale:
        upload_abort(session=session, actor=None)
    return len(stale)
