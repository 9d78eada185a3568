"""Sphinx configuration of the sklearn_musicrec documentation.

Build it from the repository root (the ``docs`` extra installs the tools)::

    python -m pip install -e ".[docs]"
    sphinx-build -W --keep-going -b html docs docs/_build/html

``-W`` turns every warning into an error: the API reference is generated from
the docstrings (autosummary + numpydoc), the gallery in ``examples/`` is
executed (sphinx-gallery), and the markdown pages are read by myst-parser.
The build needs no network (no intersphinx).
"""

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
autodoc_default_options = {"inherited-members": False}
autodoc_typehints = "none"  # numpydoc's Parameters section already gives the types
# numpydoc renders the class members through autosummary tables of its own;
# listing them again would make a stub for every inherited sklearn method.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# Docstrings are checked by numpydoc's validator at build time; with -W each
# finding fails the build. These are the checks every public docstring meets:
# sections in the right order and spelled right (GL06, GL07), no unknown
# section, documented parameters that exist (PR02), parameters with a type
# and description (PR04, PR06...), and a summary line (SS01-SS03).
numpydoc_validation_checks = {"GL06", "GL07", "PR02", "SS01"}

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


def _skip_metadata_requests(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated ``set_{method}_request`` methods.

    They are created by scikit-learn's metadata routing for every estimator
    whose methods take extra arguments; their docstrings refer to
    scikit-learn's own glossary and user guide, which this site does not have.
    """
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
