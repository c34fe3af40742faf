"""One typed reader for every setting: each value has an embedded default so nothing is required."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

# Everything the embedded default writes (SQLite, uploads, broker folders) lives here.
VAR_DIR = Path(env.str("CONTROLPLANE_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def secret_from_file(name: str) -> str:
    """A random secret made once and kept under var/, so a fresh clone needs no configuration."""
    import secrets

    path = VAR_DIR / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
