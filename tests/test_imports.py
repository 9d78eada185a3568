"""The layering rule of docs/design.md section 5, enforced over the package's ASTs.

A module may import a private name (``_x``) -- or a private module through a
package attribute (``from ..metrics import _ranking``) -- only from its own
subpackage. The single exception is ``utils/_sklearn_compat.py``, the one
importer of scikit-learn's private API, whose re-exports keep their names.
Public names of another subpackage's private modules
(``from ..utils._parallel import map_in_threads``) are allowed: that is what a
public-within-the-package name is. Top-level modules (``base.py``,
``baselines.py``, ...) are each their own subpackage.
"""

import ast
from pathlib import Path

import pytest

import sklearn_musicrec

PACKAGE = Path(sklearn_musicrec.__file__).parent
ROOT = "sklearn_musicrec"
ALLOWED_SOURCES = {"sklearn_musicrec.utils._sklearn_compat"}


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _subpackage(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _resolve(module, is_package, node):
    """Absolute name of the module a ``from ... import`` statement reads from."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def cross_subpackage_private_imports(source_code, module, is_package=False):
    """``(line, importer, source, name)`` for every import of ``module`` that breaks the rule."""
    tree = ast.parse(source_code)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _resolve(module, is_package, node)
            if not source.startswith(ROOT) or source in ALLOWED_SOURCES:
                continue
            if _subpackage(source) == _subpackage(module):
                continue
            for alias in node.names:
                if _private(alias.name):
                    found.append((node.lineno, module, source, alias.name))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                if not name.startswith(ROOT + ".") or _subpackage(name) == _subpackage(module):
                    continue
                # ``import sklearn_musicrec.metrics._scorer`` reaches private names
                if any(_private(part) for part in name.split(".")[2:]):
                    found.append((node.lineno, module, name, name))
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_import_from_another_subpackage(path):
    source = path.read_text(encoding="utf-8")
    module = _module_name(path)
    assert cross_subpackage_private_imports(source, module, path.name == "__init__.py") == []


def test_the_rule_catches_what_it_should():
    source = (
        "from ..metrics._scorer import _RecommendationScorer\n"  # private name: breaks
        "from ..metrics import _ranking\n"  # private module as a name: breaks
        "import sklearn_musicrec.metrics._scorer\n"  # private module path: breaks
        "from ..utils._parallel import map_in_threads\n"  # public name: fine
        "from ..utils._sklearn_compat import _fit_context\n"  # the exception: fine
        "from ._split import _warn_short\n"  # same subpackage: fine
        "def f():\n"
        "    from sklearn_musicrec.neighbors._knn import _as_float32_csr\n"  # breaks
    )
    found = cross_subpackage_private_imports(source, "sklearn_musicrec.model_selection._probe")
    assert [(line, name) for line, _, _, name in found] == [
        (1, "_RecommendationScorer"),
        (2, "_ranking"),
        (3, "sklearn_musicrec.metrics._scorer"),
        (8, "_as_float32_csr"),
    ]
    # relative imports resolve from a package's __init__ too
    init = cross_subpackage_private_imports(
        "from .._x import _y\nfrom ._scorer import _z\n", "sklearn_musicrec.metrics", True
    )
    assert [name for *_, name in init] == ["_y"]
