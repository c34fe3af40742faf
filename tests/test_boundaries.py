"""A `_private` name is its module's own business: no other module of the product imports it,
neither `from x import _y` nor `import x` then `x._y`. What another module needs gets a public
name (and a docstring) where it belongs. The import contracts in pyproject.toml
([tool.importlinter], run by `lint-imports`) check who may import whom; this checks what."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("controlplane", "deployments", "billing", "monitoring", "serving", "bench")


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _module_files() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        if (ROOT / package).is_dir()
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def _is_our_module(dotted: str) -> bool:
    parts = dotted.split(".")
    base = ROOT.joinpath(*parts)
    return parts[0] in PACKAGES and (base.with_suffix(".py").is_file() or (base / "__init__.py").is_file())


def private_imports(source: str, package: str) -> list[str]:
    """Each cross-module use of a private name in `source`, as "line: what"; `package` is the dotted
    package the module lives in (to resolve relative imports)."""
    found = []
    modules: set[str] = set()  # local names bound to one of our modules
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_our_module(alias.name):
                    modules.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                if _is_private(alias.name):
                    found.append(
                        f"{node.lineno}: from {'.' * node.level}{node.module or ''} import {alias.name}"
                    )
                elif _is_our_module(f"{base}.{alias.name}"):
                    modules.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and _is_private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
        ):
            found.append(f"{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_no_module_imports_another_modules_private_names():
    offenders = []
    for path in _module_files():
        relative = path.relative_to(ROOT)
        package = ".".join(relative.parent.parts)
        offenders += [f"{relative}:{hit}" for hit in private_imports(path.read_text(), package)]
    assert offenders == [], "private names used across modules:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    "source",
    [
        "from deployments.services.deployments import _helper\n",
        "from .ledger import _cloud_item\n",
        "from billing.services import ledger\nledger._cloud_item(1)\n",
        "import deployments.services.deployments\ndeployments._x\n",
    ],
)
def test_the_check_catches_each_form(source):
    assert private_imports(source, "billing.services") != []


@pytest.mark.parametrize(
    "source",
    [
        "from deployments.services.deployments import deployment_scale\n",
        "from django.db.models import F\nF._meta\n",  # not our module: Django's _meta is its API
        "def f(self):\n    return self._cache\n",
        "from __future__ import annotations\n",
    ],
)
def test_public_names_and_own_attributes_pass(source):
    assert private_imports(source, "billing.services") == []


def _public_names(module_path: Path) -> set[str]:
    """Names a module defines at top level for others to use (not what it imports, not `logger`)."""
    names = set()
    for node in ast.parse(module_path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_") and n != "logger"}


LAYER_PACKAGES = ["deployments/services", "deployments/selectors"]


@pytest.mark.parametrize("package", LAYER_PACKAGES)
def test_a_layer_package_re_exports_everything_or_nothing(package):
    """One rule per package, so an import never depends on which sub-module happened to be
    re-exported: `from deployments.services import x` works for every service x, or for none."""
    init = ROOT / package / "__init__.py"
    exported = set()
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            exported.update(alias.asname or alias.name for alias in node.names)
    if not exported:
        return
    missing = {
        f"{module.stem}.{name}"
        for module in (ROOT / package).glob("*.py")
        if module.name != "__init__.py"
        for name in _public_names(module) - exported
    }
    assert missing == set(), f"{package}/__init__.py re-exports some names but not these"
