"""Sphinx configuration of the sklearn_musicrec documentation.

Build it from the repository root (the ``docs`` extra installs the tools)::

    python -m pip install -e ".[docs]"
    sphinx-build -W --keep-going -b html docs docs/_build/html

``-W`` turns every warning into an error: the API reference is generated from
the docstrings (autosummary + numpydoc), the gallery in ``examples/`` is
executed (sphinx-gallery), and the markdown pages are read by myst-parser.
The build needs no network (no intersphinx).
"""

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Document the checkout beside this file, not another installed copy.
sys.path.insert(0, str(ROOT))

import sklearn_musicrec  # noqa: E402

project = "sklearn_musicrec"
author = "sklearn_musicrec developers"
copyright = "sklearn_musicrec developers; BSD-3-Clause"
release = sklearn_musicrec.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "generated/*.examples", "auto_examples/*.ipynb", "**.py.md5"]

# -- API reference ---------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"  # numpydoc's Parameters section already gives the types
# numpydoc renders the class members through autosummary tables of its own;
# listing them again would make a stub for every inherited sklearn method.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# Every docstring autodoc renders is checked by numpydoc's validator, and with
# -W each finding fails the build: sections known, in order and well formed,
# every parameter documented with a type and a description, no undocumented
# or unknown parameter, a one-line summary in the imperative. Not required
# (as in scikit-learn): a See Also section (SA01), an extended summary (ES01),
# an Examples section on every method (EX01: the classes and functions have
# one, run as doctests) and a bare type on the first line of Returns (RT02:
# the package names its return values, as scikit-learn does).
numpydoc_validation_checks = {"all", "SA01", "ES01", "EX01", "RT02"}
# scikit-learn's own methods inherited by the estimators are its business
numpydoc_validation_exclude = {r"\.get_metadata_routing$", r"\.set_output$"}

# -- markdown (docs/design.md, docs/facts.md, the guide pages) -------------
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]

# -- gallery ---------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    # every example is executed: each runs in seconds on synthetic or embedded data
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
    "matplotlib_animations": False,
    "abort_on_example_error": True,
    "reset_modules": ("matplotlib",),
    "doc_module": ("sklearn_musicrec",),
    "backreferences_dir": None,
    "reference_url": {},
    "within_subsection_order": "FileNameSortKey",
}

# -- HTML ------------------------------------------------------------------
# alabaster ships with Sphinx: no extra theme dependency.
html_theme = "alabaster"
html_theme_options = {
    "description": "scikit-learn compatible recommenders for listening data",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "230px",
}
html_static_path = []
html_show_sourcelink = False


def _skip_foreign_members(app, what, name, obj, skip, options):
    """Document the package's own methods, inherited ones included, and no others.

    The class pages list inherited members (``recommend``, ``score`` ... come
    from ``RecommenderMixin``), but not those of scikit-learn's base classes
    (``get_params``, ``set_output``, the generated ``set_{method}_request``,
    ``Pipeline``'s methods): their docstrings refer to scikit-learn's own
    glossary and user guide, which this site does not have.
    """
    if what != "class" or skip:
        return None
    target = obj.fget if isinstance(obj, property) else getattr(obj, "__func__", obj)
    module = getattr(target, "__module__", None) or ""
    return None if module.startswith("sklearn_musicrec") else True


def _copy_benchmark_results(app, config):
    """Copy ``benchmarks/results`` under ``docs/benchmarks/`` as pages of the site.

    ``benchmarks/README.md`` (included by ``docs/benchmarks/index.md``) links
    each comparison to its results file, ``results/<script>.md``; the copies
    make those links pages here. The copy is refreshed at every build and
    ignored by git (the committed files stay in ``benchmarks/results``).
    """
    source = ROOT / "benchmarks" / "results"
    target = Path(app.srcdir) / "benchmarks" / "results"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.suffix in (".md", ".png"):
            shutil.copy2(path, target / path.name)


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_members)
    app.connect("config-inited", _copy_benchmark_results)
