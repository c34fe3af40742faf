"""Data-plane benchmark on one tiny ONNX model, in one run, on 127.0.0.1 only.

    PYTHONPATH=. python bench/serving.py [--duration 3] [--concurrency 16]

Prints three comparisons, each against a baseline measured in the same run:

1. through the gateway versus straight to the replica: requests/s and p50/p99, at one client
   (latency: the gateway's added p50) and at ``--concurrency`` clients (throughput ratio);
   the replica runs without batching so the gateway's own cost is what differs;
2. dynamic batching (32 rows, 5 ms) versus none, 32 concurrent clients straight to a replica;
3. the model server's best throughput versus a bare ``session.run`` loop in this process.

The load generator speaks HTTP/1.1 over raw asyncio streams with keep-alive: a full client
library costs more CPU per request than the servers it measures, and on a small machine the
generator shares the cores with the processes under test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from serving.store import ROUTES_KEY, SqliteStore  # noqa: E402

SECRET = "bench-secret"
TOKEN = "bench-token"


def build_model(path: Path, in_features: int, hidden: int, out_features: int) -> Path:
    """A two-layer MLP with a free batch dimension. The default (256->1024->256, 0.5 M
    parameters, 2 MB) is tiny but does enough arithmetic per row for batching to have
    something to amortise; ``--mlp 64,256,16`` runs in microseconds and measures the HTTP
    stack alone, the hardest case for the gateway's ratio."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((in_features, hidden)).astype(np.float32) * 0.1, "W1"),
        numpy_helper.from_array(np.zeros(hidden, np.float32), "B1"),
        numpy_helper.from_array(rng.standard_normal((hidden, out_features)).astype(np.float32) * 0.1, "W2"),
        numpy_helper.from_array(np.zeros(out_features, np.float32), "B2"),
    ]
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "B1"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Gemm", ["r", "W2", "B2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", in_features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", out_features])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(args: list[str], env: dict[str, str], ready_url: str, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        stdout=open(log, "wb"),  # noqa: SIM115 (the child owns the log for its lifetime)
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{args} exited:\n{log.read_text()}")
        try:
            if httpx.get(ready_url, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{args} never became ready:\n{log.read_text()}")


def introspection_stand_in() -> ThreadingHTTPServer:
    """Answers the gateway's token introspection like the control plane would."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            ok = self.headers.get("x-gateway-secret") == SECRET and body.get("token") == TOKEN
            answer = {
                "active": True,
                "token_id": 1,
                "team": "bench",
                "scopes": ["invoke"],
                "expires_at": None,
            }
            data = json.dumps(answer if ok else {"active": False}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# -- load generator ---------------------------------------------------------------------------


def http_request(port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _client(
    port: int, request: bytes, deadline: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if head[9:12] != b"200":
                errors.append(int(head[9:12]))
    finally:
        writer.close()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc): unlike requests/s it does not move
    when something else on the machine takes the cores."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(
    port: int, request: bytes, clients: int, seconds: float, watch: dict[str, int] | None = None
) -> dict:
    """``clients`` closed-loop connections for ``seconds`` (after a short warm-up); with
    ``watch`` ({label: pid}), also the CPU each process spent per request."""

    async def run(duration: float) -> tuple[list[float], list[int], float]:
        latencies: list[float] = []
        errors: list[int] = []
        started = time.perf_counter()
        deadline = started + duration
        await asyncio.gather(*(_client(port, request, deadline, latencies, errors) for _ in range(clients)))
        return latencies, errors, time.perf_counter() - started

    asyncio.run(run(min(1.0, seconds / 3)))  # warm connections, caches and the batcher
    before = {label: cpu_seconds(pid) for label, pid in (watch or {}).items()}
    latencies, errors, elapsed = asyncio.run(run(seconds))
    after = {label: cpu_seconds(pid) for label, pid in (watch or {}).items()}
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, e.g. status {errors[0]}")
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "n": len(latencies),
        "cpu_us": {
            label: (after[label] - before[label]) / len(latencies) * 1e6
            for label in before
            if before[label] is not None and after[label] is not None
        },
    }


def bare_loop(model: Path, rows: np.ndarray, seconds: float) -> float:
    """Rows per second of ``session.run`` called in a loop, with the session options the
    server uses (so the only difference left is HTTP, JSON and scheduling)."""
    from serving.config import server_settings
    from serving.runtimes.onnx import OnnxModel

    settings = server_settings()
    session = OnnxModel(model, intra_op_threads=settings.ort_intra_op_threads, spin=settings.ort_spin).session
    for _ in range(50):
        session.run(None, {"x": rows})
    count, started = 0, time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:  # bounded by time
        for _ in range(20):
            session.run(None, {"x": rows})
        count += 20
    return count * rows.shape[0] / (time.perf_counter() - started)


def fmt(result: dict) -> str:
    cpu = "".join(f"   {label} CPU {us:4.0f} us/req" for label, us in result["cpu_us"].items())
    return (
        f"{result['rps']:8.0f} req/s   p50 {result['p50']:6.2f} ms   p99 {result['p99']:6.2f} ms"
        f"   (n={result['n']}){cpu}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--concurrency", type=int, default=16, help="clients for the gateway throughput run")
    parser.add_argument(
        "--mlp",
        default="256,1024,256",
        help="input,hidden,output widths of the MLP (64,256,16: almost no compute per row)",
    )
    args = parser.parse_args()
    in_features, hidden, out_features = (int(v) for v in args.mlp.split(","))

    workdir = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    model = build_model(workdir / "mlp.onnx", in_features, hidden, out_features)
    row = np.random.default_rng(1).standard_normal((1, in_features)).astype(np.float32)
    body = json.dumps(
        {
            "inputs": [
                {"name": "x", "shape": [1, in_features], "datatype": "FP32", "data": row.ravel().tolist()}
            ]
        }
    ).encode()
    procs: list[subprocess.Popen] = []
    plane = introspection_stand_in()
    try:
        ports = {"plain": free_port(), "batched": free_port(), "gateway": free_port()}
        for name, extra in (
            ("plain", ["--max-batch-size", "1"]),
            ("batched", ["--max-batch-size", "32", "--batch-window-ms", "5"]),
        ):
            procs.append(
                start(
                    [
                        "-m",
                        "serving.server",
                        "--model",
                        str(model),
                        "--format",
                        "onnx",
                        "--name",
                        "mlp",
                        "--port",
                        str(ports[name]),
                        *extra,
                    ],
                    {},
                    f"http://127.0.0.1:{ports[name]}/v2/health/ready",
                    workdir / f"{name}.log",
                )
            )
        store_path = workdir / "dataplane.sqlite3"
        SqliteStore(store_path).set_document(
            ROUTES_KEY,
            {
                "bench/mlp": {
                    "replicas": [f"http://127.0.0.1:{ports['plain']}"],
                    "scaled_to_zero": False,
                    "revision": 1,
                }
            },
        )
        procs.append(
            start(
                ["-m", "serving.gateway", "--port", str(ports["gateway"])],
                {
                    "CONTROLPLANE_URL": f"http://127.0.0.1:{plane.server_address[1]}",
                    "GATEWAY_SHARED_SECRET": SECRET,
                    "DATAPLANE_STORE_PATH": str(store_path),
                    "REDIS_URL": "",
                },
                f"http://127.0.0.1:{ports['gateway']}/readyz",
                workdir / "gateway.log",
            )
        )

        direct = http_request(ports["plain"], "/v2/models/mlp/infer", body, {})
        via = http_request(
            ports["gateway"],
            "/endpoints/bench/mlp/v2/models/mlp/infer",
            body,
            {"Authorization": f"Bearer {TOKEN}"},
        )
        batched = http_request(ports["batched"], "/v2/models/mlp/infer", body, {})
        d = args.duration
        cpus = os.cpu_count()
        params = in_features * hidden + hidden + hidden * out_features + out_features
        print(
            f"bench/serving.py: tiny ONNX MLP {in_features}->{hidden}->{out_features} ({params / 1e6:.2f} M "
            f"parameters), one row per request, "
            f"{cpus} CPU cores shared by load generator, gateway and replicas, {d:g} s per run\n"
        )

        print("(1) gateway versus straight to the replica (replica without batching)")
        replica_pid, gateway_pid = procs[0].pid, procs[2].pid
        direct_watch = {"replica": replica_pid, "client": os.getpid()}
        via_watch = {"replica": replica_pid, "gateway": gateway_pid, "client": os.getpid()}
        d1, g1 = (
            load(ports["plain"], direct, 1, d, direct_watch),
            load(ports["gateway"], via, 1, d, via_watch),
        )
        print(f"    1 client   direct : {fmt(d1)}")
        print(f"    1 client   gateway: {fmt(g1)}")
        dn = load(ports["plain"], direct, args.concurrency, d, direct_watch)
        gn = load(ports["gateway"], via, args.concurrency, d, via_watch)
        print(f"    {args.concurrency:2d} clients direct : {fmt(dn)}")
        print(f"    {args.concurrency:2d} clients gateway: {fmt(gn)}")
        print(
            f"    throughput ratio gateway/direct: {g1['rps'] / d1['rps']:.2f} at 1 client, "
            f"{gn['rps'] / dn['rps']:.2f} at {args.concurrency} clients (goal >= 0.85)"
        )
        print(
            f"    added p50: {g1['p50'] - d1['p50']:+.2f} ms at 1 client, {gn['p50'] - dn['p50']:+.2f} ms at "
            f"{args.concurrency} clients (goal <= 1 ms)"
        )
        if gn["cpu_us"].get("gateway") and dn["cpu_us"].get("replica"):
            # CPU time does not move when something else on the machine takes the cores, so it
            # is the steadier figure for comparing gateway versions.
            print(
                f"    CPU per request at {args.concurrency} clients: "
                f"gateway {gn['cpu_us']['gateway']:.0f} us, "
                f"replica {dn['cpu_us']['replica']:.0f} us, load generator {dn['cpu_us']['client']:.0f} us "
                f"(each program is one event loop, so each tops out near one core)"
            )
        print()

        print("(2) dynamic batching versus none, 32 concurrent clients, straight to the replica")
        nb, yb = load(ports["plain"], direct, 32, d), load(ports["batched"], batched, 32, d)
        print(f"    no batching        : {fmt(nb)}")
        print(f"    batching (32, 5 ms): {fmt(yb)}")
        print(f"    throughput ratio batched/unbatched: {yb['rps'] / nb['rps']:.2f}\n")

        print("(3) model server versus a bare session.run loop in one process (the limit)")
        bare = bare_loop(model, row, d)
        bare_batched = bare_loop(model, np.repeat(row, 32, axis=0), d)
        best_name, best = max(
            (("no batching", nb), ("batching", yb), ("no batching, 16 clients", dn)),
            key=lambda item: item[1]["rps"],
        )
        print(f"    bare session.run, 1 row per run   : {bare:8.0f} rows/s")
        print(f"    bare session.run, 32 rows per run : {bare_batched:8.0f} rows/s")
        print(
            f"    model server                      : {best['rps']:8.0f} rows/s ({best_name}, HTTP + JSON, "
            f"one row per request)"
        )
        print(
            f"    ratio server/bare: {best['rps'] / bare:.3f} of the 1-row loop, "
            f"{best['rps'] / bare_batched:.3f} of the 32-row loop"
        )
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        plane.shutdown()


if __name__ == "__main__":
    main()
