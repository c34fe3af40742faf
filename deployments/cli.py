"""`controlplane`: apply declarative deployment specs and watch rollouts through the REST API.

    controlplane apply -f spec.yaml          create, or PATCH only what differs, or say "unchanged"
    controlplane get deployments [-o json|yaml]
    controlplane get deployment NAME [-o json|yaml]
    controlplane delete NAME
    controlplane rollout status NAME [--timeout 300]

The server and token come from --url/--token or CONTROLPLANE_URL/CONTROLPLANE_TOKEN; the team from
the spec's metadata.team, --team, CONTROLPLANE_TEAM, or else the token's own team. It imports
neither Django nor the rest of this project (standard library, httpx and PyYAML only), so a CI
machine needs just the package's dependencies."""

import argparse
import json
import math
import os
import sys
import time

import httpx
import yaml

API_VERSION = "controlplane/v1"
DEFAULT_URL = "http://127.0.0.1:8000"
# The server's defaults for a field the spec leaves out (deployments.services.deployments.DEFAULTS;
# a test keeps the two equal). A spec is the whole desired state: leaving a field out means its default.
DEFAULTS = {
    "gpu_type": "",
    "gpu_count": 0,
    "min_replicas": 1,
    "max_replicas": 1,
    "scaling_metric": "concurrency",
    "scaling_target": 4.0,
    "scale_up_window_s": 0,
    "scale_down_window_s": 300,
    "idle_timeout_s": 900,
    "env": {},
    "secrets": {},
    "memory_override": False,
}
# API field -> where it lives in the spec, so errors name what the user wrote.
SPEC_PATHS = {
    "name": "metadata.name",
    "team": "metadata.team",
    "target": "spec.target",
    "model_id": "spec.model",
    "artifact": "spec.model",
    "gpu_type": "spec.gpu.type",
    "gpu_count": "spec.gpu.count",
    "memory_override": "spec.gpu.memoryOverride",
    "min_replicas": "spec.replicas.min",
    "max_replicas": "spec.replicas.max",
    "scaling_metric": "spec.scaling.metric",
    "scaling_target": "spec.scaling.target",
    "scale_up_window_s": "spec.scaling.scaleUpWindowSeconds",
    "scale_down_window_s": "spec.scaling.scaleDownWindowSeconds",
    "idle_timeout_s": "spec.scaling.idleTimeoutSeconds",
    "env": "spec.env",
    "secrets": "spec.secrets",
}
# spec section -> {key in the spec: API field}
SECTIONS = {
    "gpu": {"type": "gpu_type", "count": "gpu_count", "memoryOverride": "memory_override"},
    "replicas": {"min": "min_replicas", "max": "max_replicas"},
    "scaling": {
        "metric": "scaling_metric",
        "target": "scaling_target",
        "scaleUpWindowSeconds": "scale_up_window_s",
        "scaleDownWindowSeconds": "scale_down_window_s",
        "idleTimeoutSeconds": "idle_timeout_s",
    },
}
TYPES = {
    "gpu_type": str,
    "gpu_count": int,
    "memory_override": bool,
    "min_replicas": int,
    "max_replicas": int,
    "scaling_metric": str,
    "scaling_target": float,
    "scale_up_window_s": int,
    "scale_down_window_s": int,
    "idle_timeout_s": int,
}


class CliError(Exception):
    """Printed as `error: <message>`; the command exits 1."""


# ---- the spec ----


def _check_keys(value, path: str, allowed) -> dict:
    if not isinstance(value, dict):
        raise CliError(f"{path}: expected a mapping, got {type(value).__name__}.")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise CliError(f"{path}.{unknown[0]}: unknown field; expected one of {', '.join(allowed)}.")
    return value


def _typed(value, field: str):
    path, kind = SPEC_PATHS[field], TYPES[field]
    if kind is bool:
        if not isinstance(value, bool):
            raise CliError(f"{path}: expected true or false, got {value!r}.")
        return value
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise CliError(f"{path}: expected a whole number, got {value!r}.")
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CliError(f"{path}: expected a number, got {value!r}.")
        return float(value)
    if kind is str and not isinstance(value, str):
        raise CliError(f"{path}: expected a string, got {value!r}.")
    return value


def parse_spec(document) -> dict:
    """A YAML document -> {"name", "team", "target", "model": {"name", "version"},
    "fields": {API field: value}}. Raises CliError naming the spec path of the first problem."""
    root = _check_keys(document, "spec file", ("apiVersion", "kind", "metadata", "spec"))
    if root.get("apiVersion") != API_VERSION:
        raise CliError(f"apiVersion: expected {API_VERSION!r}, got {root.get('apiVersion')!r}.")
    if root.get("kind") != "Deployment":
        raise CliError(f"kind: expected 'Deployment', got {root.get('kind')!r}.")
    metadata = _check_keys(root.get("metadata"), "metadata", ("name", "team"))
    if not isinstance(metadata.get("name"), str) or not metadata["name"]:
        raise CliError("metadata.name: required, a DNS-safe name such as 'chat-bot'.")
    spec = _check_keys(
        root.get("spec"), "spec", ("model", "target", "gpu", "replicas", "scaling", "env", "secrets")
    )
    model = _check_keys(spec.get("model"), "spec.model", ("name", "version"))
    if not isinstance(model.get("name"), str) or not model["name"]:
        raise CliError("spec.model.name: required, the name of a model in the team's registry.")
    version = model.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise CliError(f"spec.model.version: expected a version number such as 3, got {version!r}.")
    if not isinstance(spec.get("target"), str) or not spec["target"]:
        raise CliError("spec.target: required, the name of a target (for example 'local').")
    fields = dict(DEFAULTS)
    for section, keys in SECTIONS.items():
        given = spec.get(section)
        if given is None or (section == "gpu" and given in ("none", "cpu")):
            continue
        for key, value in _check_keys(given, f"spec.{section}", tuple(keys)).items():
            fields[keys[key]] = _typed(value, keys[key])
    env = spec.get("env") or {}
    for key, value in _check_keys(env, "spec.env", tuple(env) if isinstance(env, dict) else ()).items():
        if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
            raise CliError(f'spec.env.{key}: expected a string value (quote it: "{value}").')
    fields["env"] = {str(k): str(v) for k, v in env.items()}
    secrets = spec.get("secrets") or {}
    if isinstance(secrets, list):
        secrets = {name: name for name in secrets}
    if not isinstance(secrets, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in secrets.items()
    ):
        raise CliError(
            "spec.secrets: expected a list of team secret names, or a mapping of variable name to "
            "secret name."
        )
    fields["secrets"] = secrets
    return {
        "name": metadata["name"],
        "team": metadata.get("team"),
        "target": spec["target"],
        "model": {"name": model["name"], "version": version},
        "fields": fields,
    }


# ---- the API ----


class Api:
    def __init__(self, url: str, token: str, *, client: httpx.Client | None = None):
        if not token:
            raise CliError(
                "no token: pass --token or set CONTROLPLANE_TOKEN (an API token with read and write)."
            )
        self.url = url.rstrip("/")
        self.http = client or httpx.Client(
            base_url=self.url,
            timeout=30,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "controlplane-cli"},
        )

    def call(self, method: str, path: str, *, body: dict | None = None, paths: dict | None = None, **params):
        try:
            response = self.http.request(method, f"/api/v1{path}", json=body, params=params or None)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach {self.url}: {exc}") from exc
        if response.status_code == 404 and path.startswith("/teams/"):
            team = path.split("/")[2]
            raise CliError(
                f"{_api_error(response, {})}: no team {team!r} for this token, or nothing at {path}"
            )
        if response.status_code >= 400:
            raise CliError(_api_error(response, paths or {}))
        return response.json() if response.content else None

    def list_all(self, path: str, **params) -> list[dict]:
        items, page = [], 1
        while True:
            body = self.call("GET", path, page=page, page_size=500, **params)
            items += body["results"]
            if not body.get("next"):
                return items
            page += 1


def _spec_path(field: str, paths: dict) -> str:
    """`env.HF_HOME` -> `spec.env.HF_HOME`: a field error under a mapping names the key too."""
    head, dot, rest = field.partition(".")
    if field not in paths and dot and head in paths:
        return f"{paths[head]}.{rest}"
    return paths.get(field, field)


def _api_error(response: httpx.Response, paths: dict) -> str:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"the server answered {response.status_code}: {response.text[:300]}"
    fields = error.get("fields") or {}
    if fields:
        return "; ".join(f"{_spec_path(field, paths)}: {' '.join(m)}" for field, m in fields.items())
    return f"{error.get('message') or error.get('code')} ({response.status_code})"


def _team(api: Api, args, spec_team: str | None = None) -> str:
    if spec_team and args.team and spec_team != args.team:
        raise CliError(f"metadata.team is {spec_team!r} but --team / CONTROLPLANE_TEAM says {args.team!r}.")
    team = spec_team or args.team
    if team:
        return team
    me = api.call("GET", "/me/")
    if me.get("token"):
        return me["token"]["team"]
    if len(me["teams"]) == 1:
        return next(iter(me["teams"]))
    raise CliError("which team? set metadata.team, --team or CONTROLPLANE_TEAM.")


def _find(api: Api, team: str, name: str) -> dict | None:
    return next((d for d in api.list_all(f"/teams/{team}/deployments/") if d["name"] == name), None)


def _model(api: Api, team: str, model: dict) -> dict:
    """The registry entry the spec names: that version, or the newest ready one."""
    versions = [
        m for m in api.list_all(f"/teams/{team}/models/", name=model["name"]) if m["name"] == model["name"]
    ]
    if not versions:
        raise CliError(f"spec.model.name: no model named {model['name']!r} in team {team}.")
    if model["version"] is None:
        ready = [m for m in versions if m["status"] == "ready"]
        if not ready:
            raise CliError(f"spec.model: {model['name']} has no ready version yet.")
        return max(ready, key=lambda m: m["version"])
    match = next((m for m in versions if m["version"] == model["version"]), None)
    if match is None:
        have = ", ".join(str(m["version"]) for m in sorted(versions, key=lambda m: m["version"]))
        raise CliError(
            f"spec.model.version: {model['name']} has no version {model['version']} (it has {have})."
        )
    return match


def _current(deployment: dict) -> dict:
    revision = deployment["revision"]
    return {**{field: revision[field] for field in DEFAULTS}, "model_id": revision["model"]["id"]}


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b)
    return a == b


def desired_replicas(d: dict) -> int:
    """The count the reconciler aims for (deployments.reconcile.desired_replicas)."""
    if d["desired_state"] != "running":
        return 0
    if d["pinned_replicas"] is not None:
        return d["pinned_replicas"]
    return min(max(d["replicas"], d["revision"]["min_replicas"]), d["revision"]["max_replicas"])


# ---- commands ----


def cmd_apply(api: Api, args, out) -> int:
    """Apply every document of the file in order; a refused one does not stop the others."""
    try:
        with open(args.filename) if args.filename != "-" else sys.stdin as handle:
            documents = [d for d in yaml.safe_load_all(handle) if d is not None]
    except OSError as exc:
        raise CliError(f"cannot read {args.filename}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise CliError(f"{args.filename} is not valid YAML: {exc}") from exc
    if not documents:
        raise CliError(f"{args.filename} holds no spec.")
    failed = 0
    for number, document in enumerate(documents, start=1):
        try:
            apply_one(api, args, document, out)
        except CliError as exc:
            if len(documents) == 1:
                raise
            print(f"error: document {number}: {exc}", file=args.err)
            failed += 1
    return 1 if failed else 0


def apply_one(api: Api, args, document, out) -> None:
    spec = parse_spec(document)
    team = _team(api, args, spec["team"])
    model = _model(api, team, spec["model"])
    desired = {**spec["fields"], "model_id": model["id"]}
    existing = _find(api, team, spec["name"])
    if existing is None:
        created = api.call(
            "POST",
            f"/teams/{team}/deployments/",
            paths=SPEC_PATHS,
            body={"name": spec["name"], "target": spec["target"], **desired},
        )
        print(f'deployment "{spec["name"]}" created (revision {created["revision"]["number"]})', file=out)
        return
    if existing["target"] != spec["target"]:
        raise CliError(
            f"spec.target: {spec['name']} runs on {existing['target']!r}; a deployment cannot move "
            f"to {spec['target']!r}. Delete it and apply again, or use another name."
        )
    current = _current(existing)
    changes = {field: value for field, value in desired.items() if not _same(current[field], value)}
    if not changes:
        print(f'deployment "{spec["name"]}" unchanged (revision {existing["revision"]["number"]})', file=out)
        return
    updated = api.call(
        "PATCH", f"/teams/{team}/deployments/{existing['id']}/", body=changes, paths=SPEC_PATHS
    )
    was = existing["revision"]["model"]
    shown = {"model_id": (f"{was['name']} v{was['version']}", f"{model['name']} v{model['version']}")}
    summary = ", ".join(
        f"{SPEC_PATHS[f]} " + ("{} → {}".format(*shown[f]) if f in shown else f"{current[f]!r} → {v!r}")
        for f, v in changes.items()
    )
    print(
        f'deployment "{spec["name"]}" configured: revision {updated["revision"]["number"]} ({summary})',
        file=out,
    )


def _row(d: dict) -> list[str]:
    model = d["revision"]["model"]
    return [
        d["name"],
        d["status"],
        f"{d['ready_replicas']}/{desired_replicas(d)}",
        f"{model['name']} v{model['version']}",
        d["target"],
        str(d["revision"]["number"]),
        d["endpoint_url"] or "-",
    ]


def _print(data, output: str, out, rows: list[list[str]]) -> None:
    if output == "json":
        print(json.dumps(data, indent=2), file=out)
    elif output == "yaml":
        print(yaml.safe_dump(data, sort_keys=False).rstrip(), file=out)
    else:
        table = [["NAME", "STATUS", "READY", "MODEL", "TARGET", "REVISION", "ENDPOINT"], *rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
        for r in table:
            print("   ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip(), file=out)


def cmd_get(api: Api, args, out) -> int:
    team = _team(api, args)
    if args.resource in ("deployments", "deployment") and args.name is None:
        items = api.list_all(f"/teams/{team}/deployments/")
        if not items and args.output == "table":
            print(f"No deployments in team {team}.", file=out)
            return 0
        _print(items, args.output, out, [_row(d) for d in items])
        return 0
    deployment = _require(api, team, args.name)
    _print(deployment, args.output, out, [_row(deployment)])
    return 0


def _require(api: Api, team: str, name: str) -> dict:
    deployment = _find(api, team, name)
    if deployment is None:
        raise CliError(f'deployment "{name}" not found in team {team}.')
    return deployment


def cmd_delete(api: Api, args, out) -> int:
    team = _team(api, args)
    deployment = _require(api, team, args.name)
    api.call("DELETE", f"/teams/{team}/deployments/{deployment['id']}/")
    print(f'deployment "{args.name}" deleting: its replicas stop and the endpoint goes away', file=out)
    return 0


def cmd_rollout_status(api: Api, args, out) -> int:
    """Wait until the current generation is observed and ready. 1 on failure, stop or timeout."""
    team = _team(api, args)
    deployment = _require(api, team, args.name)
    deadline = time.monotonic() + args.timeout
    last = None
    while True:
        d = api.call("GET", f"/teams/{team}/deployments/{deployment['id']}/")
        observed = d["observed_generation"] >= d["generation"]
        number, desired = d["revision"]["number"], desired_replicas(d)
        if d["desired_state"] != "running":
            raise CliError(
                f'deployment "{args.name}" is {d["desired_state"]} ({d["status"]}); nothing rolls out.'
            )
        if observed and d["status"] == "ready":
            print(
                f'deployment "{args.name}" successfully rolled out: revision {number}, '
                f"{d['ready_replicas']}/{desired} replicas ready",
                file=out,
            )
            return 0
        if observed and d["status"] == "failed":
            raise CliError(f'deployment "{args.name}" failed at revision {number}: {d["status_message"]}')
        line = (
            f'Waiting for deployment "{args.name}" rollout: revision {number} {d["status"]}, '
            f"{d['ready_replicas']} of {desired} replicas ready"
        )
        if line != last:
            print(line, file=out, flush=True)
            last = line
        if time.monotonic() >= deadline:
            raise CliError(
                f'timed out after {args.timeout:g} s waiting for deployment "{args.name}" '
                f"(status {d['status']}: {d['status_message'] or 'no message'})"
            )
        time.sleep(min(args.interval, max(deadline - time.monotonic(), 0)))


# ---- secrets: values go in (stdin or a file) and never come out ----


def cmd_secrets(api: Api, args, out) -> int:
    team = _team(api, args)
    if args.secrets_command == "list":
        for s in api.call("GET", f"/teams/{team}/secrets/"):
            print(f"{s['name']}   updated {s['updated_at']} by {s['updated_by'] or '-'}", file=out)
        return 0
    if args.secrets_command == "delete":
        api.call("DELETE", f"/teams/{team}/secrets/{args.name}/")
        print(f"secret {args.name} deleted", file=out)
        return 0
    if args.from_file:
        with open(args.from_file, encoding="utf-8") as f:
            value = f.read()
    else:
        value = sys.stdin.read()
    value = value.removesuffix("\n")  # `echo $TOKEN |` adds one; a value's own newlines stay
    api.call("PUT", f"/teams/{team}/secrets/{args.name}/", body={"value": value})
    print(f"secret {args.name} set", file=out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="controlplane", description="Deployments on the control plane, from a terminal or CI."
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("CONTROLPLANE_URL", DEFAULT_URL),
        help="control plane URL (CONTROLPLANE_URL; default %(default)s)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("CONTROLPLANE_TOKEN", ""),
        help="API token with read and write scopes (CONTROLPLANE_TOKEN)",
    )
    parser.add_argument(
        "--team",
        default=os.environ.get("CONTROLPLANE_TEAM") or None,
        help="team slug (CONTROLPLANE_TEAM; default: the token's team)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    apply = commands.add_parser(
        "apply", help="create or update deployments from a YAML spec (--- between several)"
    )
    apply.add_argument("-f", "--filename", required=True, help="spec file, or - for standard input")
    apply.set_defaults(run=cmd_apply)

    get = commands.add_parser("get", help="list deployments or show one")
    get.add_argument("resource", choices=["deployments", "deployment"])
    get.add_argument("name", nargs="?")
    get.add_argument("-o", "--output", choices=["table", "json", "yaml"], default="table")
    get.set_defaults(run=cmd_get)

    delete = commands.add_parser("delete", help="delete a deployment")
    delete.add_argument("name")
    delete.set_defaults(run=cmd_delete)

    rollout = commands.add_parser("rollout", help="follow a rollout")
    rollout_commands = rollout.add_subparsers(dest="rollout_command", required=True)
    status = rollout_commands.add_parser("status", help="wait until the current revision is ready")
    status.add_argument("name")
    status.add_argument("--timeout", type=float, default=300, help="seconds (default %(default)s)")
    status.add_argument("--interval", type=float, default=1.0, help=argparse.SUPPRESS)
    status.set_defaults(run=cmd_rollout_status)

    secrets_parser = commands.add_parser("secrets", help="team secrets (values are write-only)")
    secrets_commands = secrets_parser.add_subparsers(dest="secrets_command", required=True)
    secrets_commands.add_parser("list", help="names and last change")
    set_ = secrets_commands.add_parser("set", help="set NAME from standard input or --from-file")
    set_.add_argument("name")
    set_.add_argument("--from-file", help="read the value from this file instead of standard input")
    delete_secret = secrets_commands.add_parser("delete", help="delete a secret")
    delete_secret.add_argument("name")
    secrets_parser.set_defaults(run=cmd_secrets)
    return parser


def main(argv: list[str] | None = None, *, out=None, err=None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    args = build_parser().parse_args(argv)
    args.err = err
    try:
        return args.run(Api(args.url, args.token), args, out)
    except CliError as exc:
        print(f"error: {exc}", file=err)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
