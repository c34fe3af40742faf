"""Safe extraction of .zip, .tar and .tar.gz uploads: member names follow the upload name rules (no
absolute paths, `..`, control characters, ...), no links or device files, and a cap on the expanded
size, the expansion ratio and the number of files (zip bombs). Sizes are checked from the headers
first and again while writing, since headers can lie.

`list_archive` is the quick look taken when an archive is uploaded: member names and the top-level
Hugging Face configs, so a bad name or a code file is refused with a 400 before anything is stored."""

import shutil
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import InspectionError
from .names import MAX_CONFIG_BYTES, is_hf_config, show, upload_path_problem

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
_COPY_CHUNK = 1024 * 1024


class MemberNameError(InspectionError):
    """A member's name breaks the upload name rules; `member` is the name as the archive holds it."""

    def __init__(self, member: str, problem: str):
        super().__init__(f"The archive holds a member with a bad name, {show(member)}: {problem}.")
        self.member = member


def is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def safe_member_path(name: str, *, is_dir: bool = False) -> PurePosixPath | None:
    """The member's path in the model folder, or None for the archive's own root entry. A leading
    `./` is the one extra spelling tolerated: `tar -C folder .` writes every member that way (and
    a `.` entry for the folder itself); zip folders end with `/`."""
    rel = name
    while rel.startswith("./"):
        rel = rel[2:]
    if is_dir:
        if rel in ("", "."):
            return None
        rel = rel.removesuffix("/")
    if len(rel) > 1 and rel[1] == ":" and rel[0].isalpha():
        raise MemberNameError(name, "it is an absolute path (it starts with a drive letter)")
    problem = upload_path_problem(rel)
    if problem:
        raise MemberNameError(name, problem)
    return PurePosixPath(rel)


@dataclass(slots=True)
class ArchiveListing:
    files: list[str] = field(default_factory=list)  # paths as the model folder will hold them
    configs: dict[str, bytes] = field(default_factory=dict)  # top-level HF config files, by path


def list_archive(archive: Path, *, name: str, limit: int, max_files: int) -> ArchiveListing | None:
    """Member names (checked: MemberNameError) and top-level HF configs of the archive uploaded as
    `name` (its suffix says the kind), read without extracting. Stops quietly at `max_files`
    members or `limit` declared bytes, and returns None for an archive it cannot read: extraction
    at inspection gives the verdict on those."""
    names: list[tuple[PurePosixPath, bytes | None]] = []
    total = 0
    try:
        if name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist()[: max_files + 1]:
                    path = safe_member_path(info.filename, is_dir=info.is_dir())
                    if path is None or info.is_dir():
                        continue
                    total += info.file_size
                    if total > limit:
                        break
                    wanted = _config_candidate(path) and info.file_size <= MAX_CONFIG_BYTES
                    names.append((path, zf.read(info) if wanted else None))
        else:
            with tarfile.open(archive, "r:*") as tf:
                for count, member in enumerate(tf):
                    if count > max_files:
                        break
                    path = safe_member_path(member.name, is_dir=member.isdir())
                    if path is None or not member.isfile():
                        continue
                    total += member.size
                    if total > limit:
                        break
                    wanted = _config_candidate(path) and member.size <= MAX_CONFIG_BYTES
                    names.append((path, tf.extractfile(member).read() if wanted else None))
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, RuntimeError, ValueError):
        return None  # damaged, encrypted or truncated: inspection says which
    strip = _single_top(path for path, _ in names)
    listing = ArchiveListing()
    for path, data in names:
        rel = str(PurePosixPath(*path.parts[1:]) if strip else path)
        listing.files.append(rel)
        if data is not None and is_hf_config(rel):
            listing.configs[rel] = data
    return listing


def _config_candidate(path: PurePosixPath) -> bool:
    return len(path.parts) <= 2 and is_hf_config(path.name)


def _single_top(paths) -> bool:
    """Whether every file sits under one top folder, which extraction strips."""
    tops = set()
    for path in paths:
        if len(path.parts) < 2:
            return False
        tops.add(path.parts[0])
    return len(tops) == 1


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
        path = safe_member_path(info.filename, is_dir=info.is_dir())
        mode = info.external_attr >> 16
        if (mode & 0o170000) == 0o120000:
            raise InspectionError(
                f"The archive holds a symbolic link ({info.filename!r}); links are refused."
            )
        if path is None or info.is_dir():
            continue
        total += info.file_size
        files.append((info, path))
    _check_totals(len(files), total, limit, max_files)
    return files


def _tar_members(archive: Path, limit: int, max_files: int):
    files, total = [], 0
    with tarfile.open(archive, "r:*") as tf:
        for member in tf:
            path = safe_member_path(member.name, is_dir=member.isdir())
            if member.issym() or member.islnk():
                raise InspectionError(f"The archive holds a link ({member.name!r}); links are refused.")
            if path is None or member.isdir():
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
