"""Where artifact bytes live: local files under var/ by default, S3 (django-storages + boto3) when
ARTIFACT_S3_BUCKET is set. Everything streams; nothing holds a whole file in memory."""

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage

CHUNK = 1024 * 1024


class StagedFile(File):
    """A finished upload on local disk; FileSystemStorage moves it instead of copying."""

    def __init__(self, path: Path):
        # The File object owns the handle; Django closes it when the upload is done.
        super().__init__(open(path, "rb"), name=path.name)  # noqa: SIM115
        self._path = path

    def temporary_file_path(self) -> str:
        return str(self._path)


@cache
def artifact_storage() -> Storage:
    if settings.ARTIFACT_S3_BUCKET:
        from storages.backends.s3 import S3Storage

        return S3Storage(
            bucket_name=settings.ARTIFACT_S3_BUCKET,
            location=settings.ARTIFACT_S3_PREFIX,
            endpoint_url=settings.AWS_S3_ENDPOINT_URL,
            region_name=settings.AWS_S3_REGION_NAME,
            file_overwrite=True,
            default_acl=None,
        )
    return FileSystemStorage(location=settings.ARTIFACT_LOCAL_ROOT, allow_overwrite=True)


def is_s3(storage: Storage) -> bool:
    return not isinstance(storage, FileSystemStorage)


def storage_save(key: str, staged: Path) -> None:
    with StagedFile(staged) as f:
        artifact_storage().save(key, f)
    staged.unlink(missing_ok=True)


def storage_read_range(key: str, start: int, length: int) -> bytes:
    storage = artifact_storage()
    if is_s3(storage):
        obj = storage.bucket.Object(storage._normalize_name(key))
        return obj.get(Range=f"bytes={start}-{start + length - 1}")["Body"].read()
    with open(storage.path(key), "rb") as f:
        f.seek(start)
        return f.read(length)


def storage_size(key: str) -> int:
    return artifact_storage().size(key)


def storage_iter(key: str) -> Iterator[bytes]:
    storage = artifact_storage()
    if is_s3(storage):
        body = storage.bucket.Object(storage._normalize_name(key)).get()["Body"]
        yield from body.iter_chunks(CHUNK)
        return
    with open(storage.path(key), "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


@contextlib.contextmanager
def storage_local_copy(keys: dict[str, str]) -> Iterator[Path]:
    """A local folder holding the given files ({relative path: storage key}). Local storage links
    them in place; S3 downloads them (onnxruntime and the ONNX checker need real files)."""
    storage = artifact_storage()
    with tempfile.TemporaryDirectory(prefix="artifact-", dir=settings.UPLOAD_STAGING_DIR) as tmp:
        root = Path(tmp)
        for rel, key in keys.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if is_s3(storage):
                storage.bucket.download_file(storage._normalize_name(key), str(target))
            else:
                try:
                    target.hardlink_to(storage.path(key))
                except OSError:
                    shutil.copyfile(storage.path(key), target)
        yield root


def storage_delete_prefix(prefix: str) -> None:
    storage = artifact_storage()
    if is_s3(storage):
        storage.bucket.objects.filter(Prefix=storage._normalize_name(prefix).rstrip("/") + "/").delete()
        return
    shutil.rmtree(Path(storage.location) / prefix, ignore_errors=True)


def s3_head(uri: str) -> list[tuple[str, int]]:
    """Objects at an s3:// URI: the object itself, or every object under it as a folder.
    Returns [(key, size)]; empty when nothing is there."""
    import boto3

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    client = boto3.client(
        "s3", endpoint_url=settings.AWS_S3_ENDPOINT_URL, region_name=settings.AWS_S3_REGION_NAME
    )
    found: list[tuple[str, int]] = []
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=key):
        for obj in page.get("Contents", []):
            if obj["Key"] == key or obj["Key"].startswith(key.rstrip("/") + "/"):
                found.append((obj["Key"], obj["Size"]))
    return found
