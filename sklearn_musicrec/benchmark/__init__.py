"""``sklearn-musicrec benchmark``: which recommender for my data?

Runs every recommender of the package (and, when installed, peer
libraries) through one evaluation protocol with the package's own
:func:`~sklearn_musicrec.model_selection.evaluate`, splitters, metric
registry and scorers, and writes a report: ``report.md``, a self-contained
``report.html``, ``results.json``, per-user values (``per_user.csv``) and PNG
plots. See ``docs/benchmark_command.md``.

Examples
--------
>>> from sklearn_musicrec.benchmark import run_benchmark
>>> results, per_user = run_benchmark(models="pop,itemknn", k=5, n_splits=2, quiet=True)
>>> results["schema_version"], results["statistics"][0]["best"]
(1, 'itemknn')
"""

from ._cli import main
from ._run import SCHEMA_VERSION, run_benchmark

__all__ = ["SCHEMA_VERSION", "main", "run_benchmark"]
