"""The documentation: API reference coverage, the guide's examples, the build.

- every public name (each subpackage's ``__all__``) has a page in the API
  reference (``docs/api.rst``);
- the ``>>>`` examples of the guide pages (``docs/*.md``) run as doctests
  (the docstrings' examples already run through ``--doctest-modules``, and
  the gallery's scripts run in the build: none is duplicated here);
- the site builds without a warning (``sphinx-build -W``), gallery included;
  slow, and skipped when the ``docs`` extra is not installed.
"""

import doctest
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import sklearn_musicrec

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
if not (DOCS / "conf.py").exists():  # an installed package, not a checkout
    pytest.skip("docs/ is not beside the tests", allow_module_level=True)

# the public modules whose __all__ the API reference documents
PUBLIC_MODULES = [
    "sklearn_musicrec.base",
    "sklearn_musicrec.pipeline",
    "sklearn_musicrec.parallel",
    "sklearn_musicrec.benchmark",
    "sklearn_musicrec.baselines",
    "sklearn_musicrec.neighbors",
    "sklearn_musicrec.decomposition",
    "sklearn_musicrec.neural",
    "sklearn_musicrec.content",
    "sklearn_musicrec.rerank",
    "sklearn_musicrec.preprocessing",
    "sklearn_musicrec.datasets",
    "sklearn_musicrec.metrics",
    "sklearn_musicrec.model_selection",
    "sklearn_musicrec.utils",
    "sklearn_musicrec.utils.estimator_checks",
    "sklearn_musicrec.utils.validation",
]
GUIDE_PAGES = sorted(p for p in DOCS.glob("*.md") if p.name not in ("design.md", "facts.md"))


def _documented_names():
    """``{module: set of names}`` listed by the autosummary tables of api.rst."""
    documented, module = {}, None
    for line in (DOCS / "api.rst").read_text().splitlines():
        match = re.match(r"\.\. currentmodule:: (\S+)", line)
        if match:
            module = match.group(1)
            documented.setdefault(module, set())
        elif module and re.match(r"   [A-Za-z_]\w*$", line):
            documented[module].add(line.strip())
        elif module and re.match(r"\.\. data:: [A-Za-z_]\w*$", line):
            documented[module].add(line.split()[-1])
    return documented


def test_every_subpackage_is_in_the_api_reference():
    subpackages = {
        f"sklearn_musicrec.{p.name}"
        for p in Path(sklearn_musicrec.__file__).parent.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists())
        or (p.suffix == ".py" and not p.name.startswith("_"))
    }
    subpackages = {name.removesuffix(".py") for name in subpackages}
    assert subpackages <= set(PUBLIC_MODULES)


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_api_reference_lists_every_public_name(module):
    documented = _documented_names().get(module, set())
    public = set(importlib.import_module(module).__all__)
    assert public - documented == set(), f"missing from docs/api.rst under {module}"
    assert documented - public == set(), f"not in {module}.__all__ but in docs/api.rst"


def test_top_level_names_are_documented_under_their_subpackage():
    documented = {
        getattr(importlib.import_module(module), name)
        for module, names in _documented_names().items()
        for name in names
    }
    for name in sklearn_musicrec.__all__:
        if name != "__version__":
            assert getattr(sklearn_musicrec, name) in documented, name


@pytest.mark.parametrize("page", GUIDE_PAGES, ids=[p.stem for p in GUIDE_PAGES])
def test_guide_page_examples(page):
    # a closing code fence right after an output line would read as output:
    # end every example's output at the fence
    text = re.sub(r"\n```", "\n\n```", page.read_text())
    test = doctest.DocTestParser().get_doctest(text, {}, page.name, str(page), 0)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} failing example(s) in docs/{page.name}"


def test_the_guide_has_examples():
    # the pages that show code run it; a page losing its examples shows here
    pages_with_examples = {p.stem for p in GUIDE_PAGES if ">>> " in p.read_text()}
    assert {"getting_started", "contract", "evaluation"} <= pages_with_examples


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    for tool in ("sphinx", "numpydoc", "myst_parser", "sphinx_gallery", "matplotlib"):
        pytest.importorskip(
            tool, reason=f'{tool} is not installed: pip install -e ".[docs]" builds the docs'
        )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(DOCS),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 0, proc.stderr[-6000:]
    html = tmp_path / "html"
    for page in ("index", "api", "contract", "auto_examples/plot_toy_sgd"):
        assert (html / f"{page}.html").exists(), page
    # the toy example's page shows the numbers it computed
    assert "new listener" in (html / "auto_examples" / "plot_toy_sgd.html").read_text()
