"""The two Dockerfiles (no Docker engine here, so no build): what each copies and installs, the
user it runs as, and that no secret is baked in. The serving image's install step is run for real
on exactly the files it copies: the wheel it makes holds the `serving` package and nothing of
the control plane."""

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTROLPLANE = (ROOT / "deploy" / "Dockerfile").read_text()
SERVING = (ROOT / "deploy" / "Dockerfile.serving").read_text()


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", dockerfile)
    lines = [
        line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _copied(dockerfile: str) -> list[str]:
    """Every source of every COPY (all its words but the destination)."""
    return [source for op, args in _instructions(dockerfile) if op == "COPY" for source in args.split()[:-1]]


def test_both_images_run_as_a_numeric_non_root_user():
    for dockerfile in (CONTROLPLANE, SERVING):
        users = [args for op, args in _instructions(dockerfile) if op == "USER"]
        uid = users[-1].split(":")[0]
        assert uid.isdigit() and int(uid) != 0


def test_no_secret_is_baked_into_either_image():
    for dockerfile in (CONTROLPLANE, SERVING):
        for op, args in _instructions(dockerfile):
            if op in ("ENV", "ARG"):
                assert not re.search(r"(SECRET|PASSWORD|TOKEN|_KEY)\w*=", args), args
    # collectstatic imports settings, which would write var/ secrets: into a scratch folder it removes
    run = next(args for op, args in _instructions(CONTROLPLANE) if op == "RUN" and "collectstatic" in args)
    assert 'CONTROLPLANE_VAR_DIR="$scratch"' in run and 'rm -rf "$scratch"' in run


def test_the_control_plane_image_installs_the_controlplane_extra_by_default():
    args = dict(a.split("=", 1) for op, a in _instructions(CONTROLPLANE) if op == "ARG")
    assert args["EXTRAS"] == "controlplane"
    assert any(
        op == "RUN" and "pip install" in a and '".[$EXTRAS]"' in a for op, a in _instructions(CONTROLPLANE)
    )


def test_the_serving_image_holds_the_serving_package_only(tmp_path):
    copied = _copied(SERVING)
    assert copied == ["pyproject.toml", "README.md", "serving"]
    assert any(op == "RUN" and '".[serving]"' in a for op, a in _instructions(SERVING))
    context = tmp_path / "context"
    context.mkdir()
    for name in copied[:-1]:
        shutil.copy(ROOT / name, context / name)
    shutil.copytree(ROOT / "serving", context / "serving", ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(tmp_path),
            ".",
        ],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = tmp_path.glob("controlplane-*.whl")
    with zipfile.ZipFile(wheel) as whl:
        packages = {
            name.split("/")[0] for name in whl.namelist() if not name.split("/")[0].endswith(".dist-info")
        }
        metadata = whl.read(next(n for n in whl.namelist() if n.endswith("METADATA"))).decode()
    assert packages == {"serving"}
    serving_requirements = {
        line.split(";")[0].split(":", 1)[1].strip().split("==")[0].lower()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and 'extra == "serving"' in line
    }
    assert {"starlette", "uvicorn", "torch"} <= serving_requirements
