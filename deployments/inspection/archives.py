"""Safe extraction of .zip, .tar and .tar.gz uploads: no absolute paths, no `..`, no links or device
files, and a cap on the expanded size, the expansion ratio and the number of files (zip bombs).
Sizes are checked from the headers first and again while writing, since headers can lie."""

import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from . import InspectionError

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
_COPY_CHUNK = 1024 * 1024


def is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def safe_member_path(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise InspectionError(f"The archive holds an absolute path ({name!r}); paths must be relative.")
    if ".." in path.parts:
        raise InspectionError(f"The archive holds a path that climbs out of the folder ({name!r}).")
    return path


def _copy_capped(src, dst, budget: list[int], name: str) -> None:
    while chunk := src.read(_COPY_CHUNK):
        budget[0] -= len(chunk)
        if budget[0] < 0:
            raise InspectionError(f"The archive expands past its size limit while writing {name!r}.")
        dst.write(chunk)


def extract_archive(
    archive: Path, dest: Path, *, max_bytes: int, max_ratio: int, max_files: int
) -> list[Path]:
    """Extract into `dest` and return the files, relative to it. A single top folder is stripped so
    `model/config.json` and `config.json` read the same."""
    compressed = archive.stat().st_size
    limit = min(max_bytes, max(compressed, 1) * max_ratio)
    name = archive.name.lower()
    try:
        if name.endswith(".zip"):
            members = _zip_members(archive, limit, max_files)
            with zipfile.ZipFile(archive) as zf:
                _write_members(dest, members, lambda m: zf.open(m), limit)
        else:
            members = _tar_members(archive, limit, max_files)
            with tarfile.open(archive, "r:*") as tf:
                _write_members(dest, members, lambda m: tf.extractfile(m), limit)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise InspectionError(f"The archive is damaged or not a {archive.suffix} file: {exc}") from exc
    return _strip_single_top_folder(dest)


def _zip_members(archive: Path, limit: int, max_files: int):
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
    files, total = [], 0
    for info in infos:
        path = safe_member_path(info.filename)
        mode = info.external_attr >> 16
        if (mode & 0o170000) == 0o120000:
            raise InspectionError(
                f"The archive holds a symbolic link ({info.filename!r}); links are refused."
            )
        if info.is_dir():
            continue
        total += info.file_size
        files.append((info, path))
    _check_totals(len(files), total, limit, max_files)
    return files


def _tar_members(archive: Path, limit: int, max_files: int):
    files, total = [], 0
    with tarfile.open(archive, "r:*") as tf:
        for member in tf:
            path = safe_member_path(member.name)
            if member.issym() or member.islnk():
                raise InspectionError(f"The archive holds a link ({member.name!r}); links are refused.")
            if member.isdir():
                continue
            if not member.isfile():
                raise InspectionError(
                    f"The archive holds a special file ({member.name!r}); only files are allowed."
                )
            total += member.size
            files.append((member, path))
            _check_totals(len(files), total, limit, max_files)
    return files


def _check_totals(count: int, total: int, limit: int, max_files: int) -> None:
    if count > max_files:
        raise InspectionError(f"The archive holds more than {max_files} files.")
    if total > limit:
        raise InspectionError(
            f"The archive would expand to {total:,} bytes, past the limit of {limit:,} "
            "(its size times the allowed expansion ratio, or the size limit)."
        )


def _write_members(dest: Path, members, opener, limit: int) -> None:
    budget = [limit]
    for member, path in members:
        target = dest.joinpath(*path.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with opener(member) as src, open(target, "wb") as dst:
            _copy_capped(src, dst, budget, str(path))


def _strip_single_top_folder(dest: Path) -> list[Path]:
    entries = list(dest.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        top = entries[0]
        for child in list(top.iterdir()):
            shutil.move(str(child), dest / child.name)
        top.rmdir()
    return sorted(p.relative_to(dest) for p in dest.rglob("*") if p.is_file())
