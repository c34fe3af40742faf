"""The rules for names inside a model folder, in one place: the file API, resumable uploads, archive
members and S3 keys all go through `upload_path_problem`, and every kind of model file that holds
code goes through `code_file_problem` / `remote_code_problem`.

A name is stored in PostgreSQL, used as a path on disk and in S3, and sent back in headers, so it
must be plain: no NUL (PostgreSQL and the OS refuse it), no control characters (they end headers
and fool terminals), no lone surrogates (not encodable as UTF-8), and exactly one spelling per
file: no `.`, `..`, empty segments or backslashes. Names are refused, never rewritten."""

import re
import unicodedata

MAX_SEGMENT_BYTES = 255  # NAME_MAX on Linux filesystems and S3-compatible stores
MAX_PATH_BYTES = 1024  # S3's key limit; the database columns hold this many characters


def show(name: str, limit: int = 80) -> str:
    """A name as it may appear in a message, a log line or an audit row: quoted, with control
    characters and lone surrogates escaped, and cut short when long."""
    text = repr(name[:limit])
    return text if len(name) <= limit else f"{text[:-1]}…{text[-1]}"


def upload_path_problem(path: object) -> str | None:
    """Why `path` cannot name a file in a model folder, in words for the user; None when it can."""
    if not isinstance(path, str):
        return "it is not text"
    if not path:
        return "it is empty"
    for char in path:
        code = ord(char)
        if code == 0:
            return "it holds a NUL byte (\\x00)"
        if unicodedata.category(char) == "Cc":
            return f"it holds the control character {char!r} (U+{code:04X})"
        if 0xD800 <= code <= 0xDFFF:
            return f"it holds a lone surrogate (U+{code:04X}), which is not valid Unicode"
    if "\\" in path:
        return "it holds a backslash; separate folders with /"
    if path.startswith("/"):
        return "it is an absolute path; use a path relative to the model folder"
    size = len(path.encode())
    if size > MAX_PATH_BYTES:
        return f"it is {size:,} bytes long in UTF-8, over the limit of {MAX_PATH_BYTES:,}"
    for segment in path.split("/"):
        if segment == "":
            return "it has an empty segment (a '//' or a trailing '/')"
        if segment == "..":
            return "it has a '..' segment, which climbs out of the folder"
        if segment == ".":
            return "it has a '.' segment; write the path without it"
        size = len(segment.encode())
        if size > MAX_SEGMENT_BYTES:
            return (
                f"its segment {show(segment, 40)} is {size:,} bytes long in UTF-8, "
                f"over the limit of {MAX_SEGMENT_BYTES}"
            )
    return None


# Files Python runs or loads as native code when they sit on its path (.pth lines are executed by
# `site` at start-up; .so/.dylib/.dll/.pyd are extension modules), plus compiled bytecode.
_CODE_NAME = re.compile(r"\.(py|pyw|pyc|pyo|pyd|pth|so|dylib|dll)$|\.so(\.\d+)+$", re.IGNORECASE)

# Hugging Face files whose `auto_map` makes transformers import code from the model folder (it
# does so only with trust_remote_code=True, which the platform passes only when allowed).
HF_CONFIG_FILES = (
    "config.json",
    "tokenizer_config.json",
    "preprocessor_config.json",
    "processor_config.json",
    "feature_extractor_config.json",
    "image_processor_config.json",
)
MAX_CONFIG_BYTES = 20 * 1024 * 1024


def code_file_problem(path: str) -> str | None:
    """Why the file at `path` counts as code (at any depth, any case); None when it does not."""
    name = path.rsplit("/", 1)[-1]
    if _CODE_NAME.search(name):
        return (
            f"{show(path)} is a code file (Python source, bytecode, a .pth start-up file or a native "
            "library); model folders may not carry code unless a platform admin allows code files "
            "for the team"
        )
    return None


def is_hf_config(path: str) -> bool:
    """A top-level Hugging Face config file, the only place transformers reads `auto_map` from."""
    return path in HF_CONFIG_FILES


def remote_code_problem(path: str, config: object) -> str | None:
    """Why a parsed HF config file needs trust_remote_code; None when it does not."""
    if isinstance(config, dict) and (config.get("auto_map") or config.get("custom_pipelines")):
        key = "auto_map" if config.get("auto_map") else "custom_pipelines"
        return (
            f"{path} sets {key}, so loading it would run code from the model folder "
            "(trust_remote_code); that is refused unless a platform admin allows code files for the team"
        )
    return None
