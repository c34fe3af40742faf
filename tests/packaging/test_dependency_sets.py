"""The two images carry two dependency sets (pyproject's `controlplane` and `serving` extras): the
Django image has no torch, and the data plane has no Django. Each side is imported in a fresh
interpreter where the other side's packages cannot be imported at all."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A meta-path hook that makes the named top-level packages unimportable, as in an image without them.
BLOCK = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ModuleNotFoundError(f'{{name}} is not in this image')
sys.meta_path.insert(0, Block())
"""


def _run(code: str, blocked: set[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK.format(blocked=blocked) + code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "controlplane.settings.base",
            "CONTROLPLANE_VAR_DIR": str(ROOT / "var" / "packaging-test"),
        },
    )


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_control_plane_runs_without_the_serving_extra():
    code = """
import django; django.setup()
from django.urls import get_resolver; get_resolver().url_patterns
from celery import current_app; current_app.loader.import_default_modules()
import controlplane.urls, deployments.tasks, billing.tasks, deployments.cli
print('ok')
"""
    result = _run(code, {"torch", "transformers", "starlette", "uvicorn", "aiohttp"})
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]


def test_the_data_plane_runs_without_the_controlplane_extra():
    code = "import serving.gateway, serving.server, serving.runtimes.onnx, serving.protocols.v2; print('ok')"
    result = _run(code, {"django", "rest_framework", "celery", "kubernetes", "boto3", "psycopg"})
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]


def test_heavy_packages_live_only_in_the_serving_extra():
    project = _project()
    names = lambda reqs: {r.split("==")[0].split("[")[0].lower() for r in reqs}  # noqa: E731
    assert {"torch", "transformers"} <= names(project["optional-dependencies"]["serving"])
    assert not {"torch", "transformers"} & (
        names(project["dependencies"]) | names(project["optional-dependencies"]["controlplane"])
    )
    assert "django" not in names(project["dependencies"]) | names(project["optional-dependencies"]["serving"])
