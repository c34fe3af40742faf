"""Time from the deployment create call to the first successful inference through the gateway, on a
tiny ONNX model, against starting a bare model server by hand on the same model (goal: ratio ≤ 1.5).

    .venv/bin/python bench/time_to_ready.py [--runs 3]

Starts its own control plane (gunicorn, a Celery worker, the gateway) on the embedded defaults
(SQLite, the filesystem queue) in a scratch var/ folder, unless DATABASE_URL / REDIS_URL are set."""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BODY = {"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=0.5).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{url} did not answer in {timeout} s")


def poll_infer(url: str, headers: dict, timeout: float = 120) -> float:
    start = time.perf_counter()
    with httpx.Client(timeout=5) as client:
        while time.perf_counter() - start < timeout:
            try:
                if client.post(url, json=BODY, headers=headers).status_code == 200:
                    return time.perf_counter()
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
    raise SystemExit(f"no successful inference at {url} within {timeout} s")


def bare_server(model: Path) -> float:
    """Seconds from launching `python -m serving.server` to its first successful inference."""
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "serving.server",
            "--model",
            str(model),
            "--format",
            "onnx",
            "--name",
            "tiny-mlp",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        end = poll_infer(f"http://127.0.0.1:{port}/v2/models/tiny-mlp/infer", {})
    finally:
        proc.terminate()
        proc.wait(10)
    return end - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from tests.factories.models import tiny_onnx_bytes

    work = Path(tempfile.mkdtemp(prefix="bench-ttr-"))
    model = work / "model.onnx"
    model.write_bytes(tiny_onnx_bytes())
    env = {
        **os.environ,
        "CONTROLPLANE_VAR_DIR": str(work / "var"),
        "DJANGO_SETTINGS_MODULE": "controlplane.settings.base",
    }
    web_port, gw_port = free_port(), free_port()
    env.update(CONTROLPLANE_URL=f"http://127.0.0.1:{web_port}", GATEWAY_PORT=str(gw_port))
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    setup = f"""
import io, json
from django.contrib.auth import get_user_model
from controlplane.tenancy.services import team_create, api_token_create
from deployments.services import artifact_create, artifact_file_put, artifact_complete, artifact_inspect
from deployments.services.targets import target_create
u = get_user_model().objects.create_user("bench", password="x")
t = team_create(actor=u, slug="bench", name="Bench")
target_create(actor=u, name="local", kind="local", gpu_inventory={{}})
a = artifact_create(team=t, actor=u, name="tiny-mlp", format="onnx")
data = open({str(model)!r}, "rb").read()
artifact_file_put(artifact=a, actor=u, path="model.onnx", stream=io.BytesIO(data), length=len(data))
artifact_complete(artifact=a, actor=u)
artifact_inspect(artifact_id=a.pk)
token = api_token_create(team=t, actor=u, name="b", scopes=["read", "write", "invoke"])[1]
print(json.dumps({{"token": token, "model": a.pk}}))
"""
    out = (
        subprocess.run(
            [python, "manage.py", "shell", "--no-imports", "-c", setup],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    facts = json.loads(out)
    headers = {"Authorization": f"Bearer {facts['token']}"}
    procs = [
        subprocess.Popen(
            [
                python,
                "-m",
                "gunicorn",
                "controlplane.wsgi",
                "--bind",
                f"127.0.0.1:{web_port}",
                "--workers",
                "2",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [
                python,
                "-m",
                "celery",
                "-A",
                "controlplane",
                "worker",
                "--queues",
                "default,provisioning",
                "--concurrency",
                "2",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [python, "-m", "serving.gateway", "--port", str(gw_port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        wait_http(f"http://127.0.0.1:{web_port}/api/v1/me/")
        wait_http(f"http://127.0.0.1:{gw_port}/healthz")
        time.sleep(2)  # let the worker finish starting its pool
        bare, managed = [], []
        api = f"http://127.0.0.1:{web_port}/api/v1/teams/bench/deployments/"
        for run in range(args.runs):
            bare.append(bare_server(model))
            start = time.perf_counter()
            created = httpx.post(
                api,
                headers=headers,
                json={"name": f"tiny{run}", "target": "local", "model_id": facts["model"]},
                timeout=30,
            )
            created.raise_for_status()
            end = poll_infer(
                f"http://127.0.0.1:{gw_port}/endpoints/bench/tiny{run}/v2/models/tiny-mlp/infer", headers
            )
            managed.append(end - start)
            httpx.delete(f"{api}{created.json()['id']}/", headers=headers, timeout=30)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(20)
        subprocess.run(["pkill", "-f", f"CONTROLPLANE_VAR_DIR={work}"], check=False)
        shutil.rmtree(work, ignore_errors=True)

    b, m = statistics.median(bare), statistics.median(managed)
    broker = "Redis" if os.environ.get("REDIS_URL") else "the filesystem queue"
    database = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite"
    print(f"runs: {args.runs} (median of each); tiny ONNX model; {database}, {broker}")
    print(
        f"bare model server, launch → first inference: {b:6.2f} s   ({', '.join(f'{x:.2f}' for x in bare)})"
    )
    print(
        f"create call → first inference via gateway:  {m:6.2f} s   ({', '.join(f'{x:.2f}' for x in managed)})"
    )
    print(f"ratio: {m / b:.2f} (goal ≤ 1.5)")


if __name__ == "__main__":
    main()
