"""Upload a 2 GiB file through the REST API (resumable chunks, as the console does) and compare
with a plain file copy on the same disk; report the server's peak memory (goal: under 300 MB).

    .venv/bin/python bench/upload.py [--size-mib 2048] [--chunk-mib 64]

Starts its own server (gunicorn, embedded SQLite settings) in a scratch var/ folder."""

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_file(path: Path, size: int) -> None:
    block = os.urandom(1024 * 1024)
    with open(path, "wb") as f:
        for _ in range(size // len(block)):
            f.write(block)


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the process's peak resident memory, kept by the kernel."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def request(conn, method, path, token, body=None, headers=None):
    headers = {"Authorization": f"Bearer {token}", **(headers or {})}
    if isinstance(body, dict):
        body, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if response.status >= 300:
        raise SystemExit(f"{method} {path} -> {response.status} {data[:300]!r}")
    return json.loads(data) if data else {}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--chunk-mib", type=int, default=64)
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024

    work = Path(
        tempfile.mkdtemp(prefix="bench-upload-", dir=ROOT / "var" if (ROOT / "var").exists() else None)
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(CONTROLPLANE_VAR_DIR=str(work / "var"), DJANGO_SETTINGS_MODULE="controlplane.settings.base")
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    setup = (
        "from django.contrib.auth import get_user_model;"
        "from controlplane.tenancy.services import team_create, api_token_create;"
        "u = get_user_model().objects.create_user('bench', password='x');"
        "t = team_create(actor=u, slug='bench', name='Bench');"
        "print(api_token_create(team=t, actor=u, name='bench', scopes=['read', 'write'])[1])"
    )
    token = (
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

    source = work / "model.bin"
    make_file(source, size)
    start = time.perf_counter()
    shutil.copyfile(source, work / "copy.bin")
    copy_seconds = time.perf_counter() - start
    (work / "copy.bin").unlink()

    port = free_port()
    server = subprocess.Popen(
        [
            python,
            "-m",
            "gunicorn",
            "controlplane.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "4",
            "--timeout",
            "600",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        base = "/api/v1/teams/bench/models/"
        artifact = request(conn, "POST", base, token, {"name": "big", "format": "onnx"})
        upload = request(
            conn, "POST", f"{base}{artifact['id']}/uploads/", token, {"path": "model.onnx", "size": size}
        )
        url = f"{base}{artifact['id']}/uploads/{upload['id']}/"
        chunk = args.chunk_mib * 1024 * 1024
        start = time.perf_counter()
        with open(source, "rb") as f:
            offset = 0
            while offset < size:
                length = min(chunk, size - offset)
                piece = _Slice(f, offset, length)
                request(
                    conn,
                    "PATCH",
                    url,
                    token,
                    body=piece,
                    headers={
                        "Upload-Offset": str(offset),
                        "Content-Length": str(length),
                        "Content-Type": "application/offset+octet-stream",
                    },
                )
                offset += length
        upload_seconds = time.perf_counter() - start
        workers = children(server.pid)
        worker_peak = max(peak_rss_mib(pid) for pid in workers)
        master_peak = peak_rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    mib = size / 1024 / 1024
    print(
        f"file: {mib:.0f} MiB, API chunks of {args.chunk_mib} MiB "
        "(resumable PATCH, SHA-256 checked at the end)"
    )
    print(f"plain copy (baseline): {copy_seconds:6.2f} s  {mib / copy_seconds:8.1f} MiB/s")
    print(f"upload through the API: {upload_seconds:6.2f} s  {mib / upload_seconds:8.1f} MiB/s")
    print(f"ratio API / copy throughput: {copy_seconds / upload_seconds:.2f}")
    print(
        f"server peak memory (VmHWM): worker {worker_peak:.0f} MiB, master {master_peak:.0f} MiB "
        f"(goal: worker under 300 MB: {'met' if worker_peak * 1.048576 < 300 else 'NOT met'})"
    )


class _Slice:
    """A file window that http.client streams in blocks instead of reading whole."""

    def __init__(self, f, offset: int, length: int):
        self.f, self.remaining = f, length
        f.seek(offset)

    def read(self, n: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        n = self.remaining if n < 0 else min(n, self.remaining)
        data = self.f.read(n)
        self.remaining -= len(data)
        return data


if __name__ == "__main__":
    main()
