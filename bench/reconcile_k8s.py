"""Observe 2,000 Kubernetes deployments in one sweep: API calls and time, versus one GET each.

    PYTHONPATH=. python bench/reconcile_k8s.py [--deployments 2000] [--pods 2] [--page-size 500]

A small threaded HTTP server on 127.0.0.1 plays the Kubernetes API (GET by name; label-selected,
paginated lists; pod logs) over a cluster of N deployments with `--pods` pods each, a few of them
pending for want of a GPU and a few crash-looping. Both sides use the same official-client path
(`OfficialKubeClient`, keep-alive):

- baseline: one GET of each Deployment by name, the least a per-deployment reconcile must do;
- sweep: `KubernetesBackend.observe_many(keys)`: Deployments and pods listed cluster-wide by the
  managed-by label, page by page, plus one log read per crash-looping deployment; and it reports
  per-pod readiness and reasons, which the baseline does not even fetch.

Prints the calls and wall time of each, and their ratios.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MANAGED = "app.kubernetes.io/managed-by"
KEY = "controlplane.io/key"


def build_cluster(n: int, pods_each: int) -> tuple[dict, list[dict], list[str]]:
    """Deployments by (namespace, name), all pods, and the keys. 1% pending, 0.5% crash-looping."""
    deployments, pods, keys = {}, [], []
    for i in range(n):
        team, name = f"team{i % 50}", f"model-{i}"
        ns, key = f"team-{team}", f"{team}-model-{i}"
        labels = {
            MANAGED: "controlplane",
            KEY: key,
            "controlplane.io/team": team,
            "controlplane.io/deployment": name,
            "controlplane.io/revision": "3",
        }
        pending, crashing = i % 100 == 7, i % 200 == 13
        ready = 0 if (pending or crashing) else pods_each
        deployments[(ns, name)] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": labels, "generation": 3},
            "spec": {"replicas": pods_each, "template": {"metadata": {"labels": labels}}},
            "status": {
                "observedGeneration": 3,
                "replicas": pods_each,
                "readyReplicas": ready,
                "updatedReplicas": pods_each,
                "conditions": [{"type": "Available", "status": "True" if ready else "False"}],
            },
        }
        keys.append(key)
        for j in range(pods_each):
            status = {
                "phase": "Running",
                "podIP": f"10.{i // 250}.{i % 250}.{j + 1}",
                "startTime": "2026-11-24T08:00:00Z",
                "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                "containerStatuses": [
                    {
                        "name": "model-server",
                        "image": "controlplane:0.1.0",
                        "restartCount": 0,
                        "state": {"running": {}},
                    }
                ],
            }
            if pending:
                status = {
                    "phase": "Pending",
                    "conditions": [
                        {
                            "type": "PodScheduled",
                            "status": "False",
                            "reason": "Unschedulable",
                            "message": "0/12 nodes are available: 12 Insufficient nvidia.com/gpu.",
                        }
                    ],
                }
            elif crashing:
                status["containerStatuses"][0].update(
                    state={"waiting": {"reason": "CrashLoopBackOff"}},
                    restartCount=5,
                    lastState={"terminated": {"exitCode": 1}},
                )
            pods.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": f"{name}-{j}", "namespace": ns, "labels": labels},
                    "status": status,
                    "spec": {
                        "containers": [
                            {"name": "model-server", "ports": [{"name": "http", "containerPort": 9000}]}
                        ]
                    },
                }
            )
    return deployments, pods, keys


class FakeApi(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real API server
    disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs: 40 ms per GET
    deployments: dict = {}
    pods: list = []
    requests = 0

    def log_message(self, *args):
        pass

    def _send(self, code: int, body: bytes, content_type="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        type(self).requests += 1
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        parts = url.path.strip("/").split("/")
        if url.path.endswith("/log"):
            return self._send(200, b"loading model\nRuntimeError: CUDA out of memory\n", "text/plain")
        if parts[:2] == ["apis", "apps"] and len(parts) == 7:  # GET one deployment
            obj = self.deployments.get((parts[4], parts[6]))
            return self._send(
                200 if obj else 404, json.dumps(obj or {"kind": "Status", "code": 404}).encode()
            )
        items = list(self.deployments.values()) if "deployments" in parts else self.pods
        selector = dict(term.split("=", 1) for term in query.get("labelSelector", "").split(",") if term)
        items = [o for o in items if all(o["metadata"]["labels"].get(k) == v for k, v in selector.items())]
        start, limit = int(query.get("continue") or 0), int(query.get("limit") or len(items) or 1)
        page = items[start : start + limit]
        token = str(start + limit) if start + limit < len(items) else ""
        body = {"kind": "List", "metadata": {"continue": token} if token else {}, "items": page}
        return self._send(200, json.dumps(body).encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deployments", type=int, default=2000)
    parser.add_argument("--pods", type=int, default=2, help="pods per deployment")
    parser.add_argument("--page-size", type=int, default=500)
    args = parser.parse_args()

    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings.base")
    django.setup()
    from kubernetes import client as k8s_client

    from deployments.backends.base import TargetConfig
    from deployments.backends.kube_client import OfficialKubeClient
    from deployments.backends.kubernetes import KubernetesBackend

    FakeApi.deployments, FakeApi.pods, keys = build_cluster(args.deployments, args.pods)
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def client() -> OfficialKubeClient:
        configuration = k8s_client.Configuration(host=f"http://127.0.0.1:{server.server_port}")
        configuration.retries = 0
        return OfficialKubeClient(k8s_client.ApiClient(configuration), page_size=args.page_size)

    baseline_client = client()
    started = time.perf_counter()
    for ns, name in FakeApi.deployments:
        baseline_client.get("Deployment", name, ns)
    baseline_s = time.perf_counter() - started

    backend = KubernetesBackend(TargetConfig(name="bench", kind="kubernetes", settings={}), client=client())
    started = time.perf_counter()
    observed = backend.observe_many(keys)
    sweep_s = time.perf_counter() - started
    server.shutdown()

    ready = sum(1 for o in observed.values() if o.exists and len(o.ready()) == args.pods)
    problems = sum(1 for o in observed.values() if o.events)
    assert len(observed) == args.deployments and ready + problems == args.deployments, (ready, problems)
    print(f"cluster: {args.deployments} deployments x {args.pods} pods, page size {args.page_size}")
    print(
        f"baseline (one GET per deployment):  {baseline_client.calls:6d} API calls  "
        f"{baseline_s * 1000:8.1f} ms"
    )
    print(
        f"observe_many (label-selected lists): {backend.client.calls:5d} API calls  "
        f"{sweep_s * 1000:8.1f} ms  "
        f"({ready} ready, {problems} with a reason: pending or crash-looping, logs read)"
    )
    print(
        f"ratio: {baseline_client.calls / backend.client.calls:.0f}x fewer API calls, "
        f"{baseline_s / sweep_s:.2f}x the baseline's speed (time ratio baseline/sweep)"
    )


if __name__ == "__main__":
    main()
