"""An in-memory Kubernetes cluster behind the backend's seam (deployments/backends/kube_client.py).

It keeps the semantics the backend relies on, and nothing more:
- server-side apply creates or updates; a different field manager without force gets 409;
  a namespaced object needs its namespace (404), and a terminating namespace refuses it (403);
- label-selected lists across the cluster or one namespace; foreground deletes leave the object
  with a deletionTimestamp until the test calls `settle()`;
- a tiny controller (`settle()`) that makes pods for Deployments: ready only when the test says
  so (`set_ready`), Pending with `Insufficient nvidia.com/gpu` when the nodes have no free GPU,
  ReplicaFailure when the namespace's GPU quota is exhausted; plus scripted failures (image pull,
  crash loop with logs, progress deadline) and one-shot API errors (`fail_next`).

State lives in memory, or in a JSON file (`path`) under a lock so a Celery worker process and the
test share one cluster: the worker reaches it through KUBERNETES_CLIENT_FACTORY=tests.fakes_kube.fake_client
and FAKE_KUBE_STATE=<path>."""

import contextlib
import copy
import fcntl
import json
import os
from collections.abc import Mapping
from pathlib import Path

from deployments.backends.kube_client import FIELD_MANAGER, KINDS, as_backend_error

GPU = "nvidia.com/gpu"


def _status(code: int, reason: str, message: str) -> str:
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "code": code,
            "reason": reason,
            "message": message,
        }
    )


def _matches(labels: Mapping, selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


class FakeCluster:
    def __init__(self, path: str | Path | None = None, *, gpu_nodes: Mapping[str, int] | None = None):
        self.path = Path(path) if path else None
        self._state = {
            "objects": {},
            "errors": [],
            "logs": {},
            "ready": {},
            "failures": {},
            "clock": 0,
            "nodes": dict(gpu_nodes or {"NVIDIA-A100-SXM4-80GB": 4}),
            "requests": [],
        }
        if self.path and not self.path.exists():
            self.path.write_text(json.dumps(self._state))

    # -- shared state ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def state(self):
        if self.path is None:
            yield self._state
            return
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = json.loads(self.path.read_text())
            try:
                yield state
            finally:  # an API error raised inside still consumed its scripted failure, as in memory
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(state))
                os.replace(tmp, self.path)

    @staticmethod
    def _id(kind: str, namespace: str, name: str) -> str:
        return f"{kind}/{namespace}/{name}"

    def objects(self, kind: str | None = None, namespace: str | None = None) -> list[dict]:
        with self.state() as s:
            return [
                copy.deepcopy(o)
                for o in s["objects"].values()
                if (kind is None or o["kind"] == kind)
                and (namespace is None or o["metadata"].get("namespace", "") == namespace)
            ]

    def get_object(self, kind: str, name: str, namespace: str = "") -> dict | None:
        with self.state() as s:
            return copy.deepcopy(s["objects"].get(self._id(kind, namespace, name)))

    def requests(self) -> list[list]:
        with self.state() as s:
            return list(s["requests"])

    # -- test controls --------------------------------------------------------------------------
    def fail_next(self, verb: str, code: int, message: str, reason: str = "") -> None:
        """The next `verb` call (apply, get, list, delete, log) answers with this error."""
        with self.state() as s:
            s["errors"].append(
                [
                    verb,
                    code,
                    reason or {409: "Conflict", 422: "Invalid", 403: "Forbidden"}.get(code, ""),
                    message,
                ]
            )

    def set_ready(self, key: str, ready: bool = True) -> None:
        """Pods of this deployment pass their readiness probe from now on (once scheduled)."""
        with self.state() as s:
            s["ready"][key] = ready
        self.settle()

    def set_failure(self, key: str, failure: str | None, logs: str = "") -> None:
        """Script a pod failure: "image_pull", "crash_loop" (with `logs`), "progress_deadline"."""
        with self.state() as s:
            if failure is None:
                s["failures"].pop(key, None)
            else:
                s["failures"][key] = failure
            if logs:
                s["logs"][key] = logs
        self.settle()

    def edit(self, kind: str, name: str, namespace: str, mutate) -> None:
        """Someone edits an object by hand (kubectl edit): drift for the reconciler to repair."""
        with self.state() as s:
            obj = s["objects"][self._id(kind, namespace, name)]
            mutate(obj)
            obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
            obj["metadata"]["managedFields"] = [{"manager": "kubectl-edit"}]
        self.settle()

    def remove(self, kind: str, name: str, namespace: str) -> None:
        """Someone deletes an object by hand."""
        with self.state() as s:
            s["objects"].pop(self._id(kind, namespace, name), None)
            if kind == "Deployment":
                for oid in [
                    i
                    for i, o in s["objects"].items()
                    if o["kind"] == "Pod"
                    and o["metadata"].get("namespace") == namespace
                    and o["metadata"]["labels"].get("fake/owner") == name
                ]:
                    s["objects"].pop(oid)
        self.settle()

    # -- the API verbs --------------------------------------------------------------------------
    @staticmethod
    def _what(verb: str, args) -> str:
        """How the real client names a call in its errors."""
        if verb == "apply":
            meta = args[0]["metadata"]
            where = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
            return f"apply {args[0]['kind']} {where}"
        return {"get": "read", "list": "list"}.get(verb, verb) + " " + " ".join(str(a) for a in args[:2])

    def _scripted(self, s, verb: str, what: str):
        for i, (v, code, reason, message) in enumerate(s["errors"]):
            if v == verb:
                s["errors"].pop(i)
                return as_backend_error(code, _status(code, reason, message), what=what)
        return None

    def api(self, verb: str, *args, **kwargs):
        with self.state() as s:
            s["requests"].append([verb, *[a if isinstance(a, str) else a.get("kind") for a in args]])
            error = self._scripted(s, verb, self._what(verb, args))
            if error:
                raise error
            result = getattr(self, f"_{verb}")(s, *args, **kwargs)
        if verb == "apply":
            self.settle(deletions=False)
        return result

    def _apply(self, s, obj: Mapping, *, manager: str = FIELD_MANAGER, force: bool = True) -> dict:
        obj = copy.deepcopy(dict(obj))
        kind, meta = obj["kind"], obj["metadata"]
        ns = meta.get("namespace", "") if KINDS[kind].namespaced else ""
        if KINDS[kind].namespaced:
            namespace = s["objects"].get(self._id("Namespace", "", ns))
            if namespace is None:
                raise as_backend_error(
                    404,
                    _status(404, "NotFound", f'namespaces "{ns}" not found'),
                    what=f"apply {kind} {ns}/{meta['name']}",
                )
            if namespace["metadata"].get("deletionTimestamp"):
                raise as_backend_error(
                    403,
                    _status(
                        403,
                        "Forbidden",
                        f'{kind.lower()} "{meta["name"]}" is forbidden: '
                        f"unable to create new content in namespace {ns} because it is being terminated",
                    ),
                    what=f"apply {kind} {ns}/{meta['name']}",
                )
        oid = self._id(kind, ns, meta["name"])
        current = s["objects"].get(oid)
        if current is not None:
            others = {m["manager"] for m in current["metadata"].get("managedFields", [])} - {manager}
            if others and not force:
                raise as_backend_error(
                    409,
                    _status(
                        409, "Conflict", f"Apply failed with conflicts: conflict with {sorted(others)[0]!r}"
                    ),
                    what=f"apply {kind} {meta['name']}",
                )
        new = obj
        if current is not None and current["metadata"].get("deletionTimestamp"):  # patching does not undelete
            new["metadata"]["deletionTimestamp"] = current["metadata"]["deletionTimestamp"]
        new["metadata"]["managedFields"] = [{"manager": manager, "operation": "Apply"}]
        new["metadata"]["uid"] = (current or {}).get("metadata", {}).get(
            "uid"
        ) or f"uid-{s['clock']:08d}-{len(s['objects']):06d}"
        if kind == "Deployment":
            old_spec = (current or {}).get("spec", {})
            if "replicas" not in new["spec"]:  # the HPA's field: keep what is there
                new["spec"]["replicas"] = old_spec.get("replicas", 1)
            generation = (current or {}).get("metadata", {}).get("generation", 0)
            new["metadata"]["generation"] = generation + (0 if old_spec == new["spec"] else 1)
            new["status"] = (current or {}).get("status", {})
        s["objects"][oid] = new
        return copy.deepcopy(new)

    def _get(self, s, kind: str, name: str, namespace: str = "") -> dict | None:
        return copy.deepcopy(s["objects"].get(self._id(kind, namespace, name)))

    def _list(self, s, kind: str, *, namespace: str = "", label_selector: str = "") -> list[dict]:
        if kind == "Node":  # one node per GPU product, as the device plugin and feature discovery label them
            return [
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": f"node-{i}", "labels": {"nvidia.com/gpu.product": product}},
                    "status": {"allocatable": {GPU: str(count), "cpu": "32"}},
                }
                for i, (product, count) in enumerate(sorted(s["nodes"].items()))
            ]
        return [
            copy.deepcopy(o)
            for o in s["objects"].values()
            if o["kind"] == kind
            and (not namespace or o["metadata"].get("namespace") == namespace)
            and _matches(o["metadata"].get("labels") or {}, label_selector)
        ]

    def _delete(self, s, kind: str, name: str, namespace: str = "") -> bool:
        obj = s["objects"].get(self._id(kind, namespace, name))
        if obj is None:
            return False
        obj["metadata"].setdefault("deletionTimestamp", "2026-01-01T00:00:00Z")
        return True

    def _log(self, s, namespace: str, pod: str, **_kwargs) -> str:
        owner = s["objects"].get(self._id("Pod", namespace, pod), {}).get("metadata", {}).get("labels", {})
        return s["logs"].get(owner.get("controlplane.io/key", ""), "")

    def _version(self, s) -> dict:
        return {"major": "1", "minor": "31", "gitVersion": "v1.31.4"}

    # -- the controller -------------------------------------------------------------------------
    def settle(self, *, deletions: bool = True) -> None:
        """Run the cluster's controllers once: finish deletions (unless told not to: an apply
        alone does not), then bring pods in line with their Deployments."""
        with self.state() as s:
            s["clock"] += 1
            objects = s["objects"]
            if deletions:
                terminating_ns = {
                    o["metadata"]["name"]
                    for o in objects.values()
                    if o["kind"] == "Namespace" and o["metadata"].get("deletionTimestamp")
                }
                for oid, o in list(objects.items()):
                    if (
                        o["metadata"].get("deletionTimestamp")
                        or o["metadata"].get("namespace") in terminating_ns
                    ):
                        objects.pop(oid)
            deployments = [o for o in objects.values() if o["kind"] == "Deployment"]
            # Pods belong to a live Deployment; everything else goes.
            live = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in deployments}
            for oid, o in list(objects.items()):
                if (
                    o["kind"] == "Pod"
                    and (o["metadata"]["namespace"], o["metadata"]["labels"]["fake/owner"]) not in live
                ):
                    objects.pop(oid)
            free = dict(s["nodes"])
            for d in sorted(deployments, key=lambda d: d["metadata"]["uid"]):
                self._reconcile_deployment(s, d, free)

    def _reconcile_deployment(self, s, d: dict, free: dict) -> None:
        objects = s["objects"]
        ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
        template = d["spec"]["template"]
        key = template["metadata"]["labels"].get("controlplane.io/key", "")
        revision = template["metadata"]["labels"].get("controlplane.io/template", "0")[:6]
        want = d["spec"].get("replicas", 1)
        pod_spec = template["spec"]
        gpus = int(pod_spec["containers"][0].get("resources", {}).get("limits", {}).get(GPU, 0))
        product = (pod_spec.get("nodeSelector") or {}).get("nvidia.com/gpu.product")
        quota = objects.get(self._id("ResourceQuota", ns, "controlplane-gpu"))
        quota_left = int(quota["spec"]["hard"][f"requests.{GPU}"]) if quota else None
        if quota_left is not None:
            for other in objects.values():
                if (
                    other["kind"] == "Pod"
                    and other["metadata"]["namespace"] == ns
                    and other["metadata"]["labels"]["fake/owner"] != name
                ):
                    quota_left -= other["metadata"].get("fake/gpus", 0)
        # Replace pods of another template (a rollout), keep those of this one, up to `want`.
        pods = [
            o
            for o in objects.values()
            if o["kind"] == "Pod"
            and o["metadata"]["namespace"] == ns
            and o["metadata"]["labels"]["fake/owner"] == name
        ]
        keep = [
            p
            for p in pods
            if p["metadata"]["labels"].get("controlplane.io/template", "")[:6] == revision
            and p["metadata"].get("fake/template") == json.dumps(template, sort_keys=True)
        ][:want]
        for p in pods:
            if p not in keep:
                objects.pop(self._id("Pod", ns, p["metadata"]["name"]))
        failure = s["failures"].get(key)
        ready = s["ready"].get(key, False)
        replica_failure = None
        for i in range(want):
            pod_name = f"{name}-r{revision}-{i}"
            if gpus and quota_left is not None:
                if quota_left < gpus:
                    limit = quota["spec"]["hard"][f"requests.{GPU}"]
                    replica_failure = (
                        f'pods "{pod_name}" is forbidden: exceeded quota: controlplane-gpu, requested: '
                        f"requests.{GPU}={gpus}, limited: requests.{GPU}={limit}"
                    )
                    objects.pop(self._id("Pod", ns, pod_name), None)
                    continue
                quota_left -= gpus
            scheduled = not gpus or free.get(product, 0) >= gpus
            if scheduled and gpus:
                free[product] -= gpus
            labels = dict(template["metadata"]["labels"], **{"fake/owner": name})
            status = self._pod_status(
                s,
                pod_spec,
                scheduled=scheduled,
                ready=ready,
                failure=failure,
                ip=f"10.0.{len(objects) % 250}.{i + 10}",
            )
            pod_id = self._id("Pod", ns, pod_name)
            if (
                pod_id in objects
                and objects[pod_id]["metadata"]["labels"].get("controlplane.io/template", "")[:6] == revision
            ):
                objects[pod_id]["status"] = status
            else:
                objects[pod_id] = {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "status": status,
                    "metadata": {
                        "name": pod_name,
                        "namespace": ns,
                        "labels": labels,
                        "fake/gpus": gpus,
                        "fake/template": json.dumps(template, sort_keys=True),
                    },
                    "spec": {"containers": pod_spec["containers"]},
                }
        pods = [
            o
            for o in objects.values()
            if o["kind"] == "Pod"
            and o["metadata"]["namespace"] == ns
            and o["metadata"]["labels"]["fake/owner"] == name
        ]
        ready_count = sum(
            1
            for p in pods
            if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in p["status"].get("conditions", [])
            )
        )
        conditions = self._deployment_conditions(name, revision, failure, replica_failure)
        d["status"] = {
            "observedGeneration": d["metadata"].get("generation", 1),
            "replicas": len(pods),
            "updatedReplicas": len(pods),
            "readyReplicas": ready_count,
            "availableReplicas": ready_count,
            "conditions": conditions,
        }

    @staticmethod
    def _pod_status(s, pod_spec: dict, *, scheduled: bool, ready: bool, failure: str | None, ip: str) -> dict:
        status: dict = {
            "phase": "Running" if scheduled else "Pending",
            "startTime": "2026-11-24T09:00:00Z",
        }
        if not scheduled:
            status["conditions"] = [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": f"0/{len(s['nodes'])} nodes are available: "
                    f"{len(s['nodes'])} Insufficient {GPU}.",
                }
            ]
            return status
        container = {
            "name": "model-server",
            "image": pod_spec["containers"][0]["image"],
            "restartCount": 0,
            "state": {"running": {}},
            "ready": ready and not failure,
        }
        if failure == "image_pull":
            container["state"] = {
                "waiting": {
                    "reason": "ImagePullBackOff",
                    "message": f'Back-off pulling image "{container["image"]}"',
                }
            }
        elif failure == "crash_loop":
            container.update(
                restartCount=4,
                state={"waiting": {"reason": "CrashLoopBackOff"}},
                lastState={"terminated": {"exitCode": 1, "reason": "Error"}},
            )
        status.update(
            podIP=ip,
            containerStatuses=[container],
            conditions=[
                {"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": "True" if container["ready"] else "False"},
            ],
        )
        return status

    @staticmethod
    def _deployment_conditions(name: str, revision: str, failure: str | None, replica_failure: str | None):
        conditions = []
        if failure == "progress_deadline":
            conditions.append(
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "ProgressDeadlineExceeded",
                    "message": f'ReplicaSet "{name}-r{revision}" has timed out progressing.',
                }
            )
        if replica_failure:
            conditions.append(
                {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "reason": "FailedCreate",
                    "message": replica_failure,
                }
            )
        return conditions


class FakeKubeClient:
    """The backend's KubeClient over a FakeCluster; counts calls like the real one."""

    def __init__(self, cluster: FakeCluster, *, manager: str = FIELD_MANAGER, force: bool = True):
        self.cluster = cluster
        self.manager, self.force = manager, force
        self.calls = 0

    def apply(self, obj):
        self.calls += 1
        return self.cluster.api("apply", obj, manager=self.manager, force=self.force)

    def get(self, kind, name, namespace=""):
        self.calls += 1
        return self.cluster.api("get", kind, name, namespace)

    def list(self, kind, *, namespace="", label_selector=""):
        self.calls += 1
        return self.cluster.api("list", kind, namespace=namespace, label_selector=label_selector)

    def delete(self, kind, name, namespace=""):
        self.calls += 1
        return self.cluster.api("delete", kind, name, namespace)

    def read_log(self, namespace, pod, *, container, previous, tail_lines):
        self.calls += 1
        return self.cluster.api("log", namespace, pod)

    def version(self):
        self.calls += 1
        return self.cluster.api("version")


def fake_client(target) -> FakeKubeClient:
    """KUBERNETES_CLIENT_FACTORY for a worker process: the cluster in the file FAKE_KUBE_STATE."""
    return FakeKubeClient(FakeCluster(os.environ["FAKE_KUBE_STATE"]))
