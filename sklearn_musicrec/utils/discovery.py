"""Discover the public estimators of the package (as sklearn.utils.all_estimators)."""

import inspect
import pkgutil
from importlib import import_module
from operator import itemgetter
from pathlib import Path

from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

__all__ = ["all_estimators", "all_recommenders"]

_ROOT = "sklearn_musicrec"


def _public_modules():
    root = Path(__file__).resolve().parent.parent
    for info in pkgutil.walk_packages([str(root)], prefix=f"{_ROOT}."):
        parts = info.name.split(".")
        if any(p == "tests" or p.startswith("test_") for p in parts):
            continue
        if any(p.startswith("_") and p != "__main__" for p in parts[1:]) or "__main__" in parts:
            # private modules are reached through their public package
            continue
        yield info.name


def all_estimators():
    """Every public estimator class of ``sklearn_musicrec``.

    Walks the package, like :func:`sklearn.utils.all_estimators`, so that a
    new estimator is enrolled in the common tests simply by existing and
    being exported from a public module.

    Returns
    -------
    estimators : list of (name, class) tuples
        Sorted by name; abstract bases, private names and pipelines
        (which need their steps to be built) excluded.

    Examples
    --------
    >>> from sklearn_musicrec.utils import all_estimators
    >>> names = [name for name, _ in all_estimators()]
    >>> "PopularityRecommender" in names
    True
    """
    found = {}
    for module_name in [_ROOT, *_public_modules()]:
        module = import_module(module_name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, BaseEstimator)
                and cls.__module__.startswith(_ROOT)
                and not name.startswith("_")
                and not inspect.isabstract(cls)
                and name not in {"BaseRecommender"}
                and not name.startswith("Base")
                # meta-estimators built from steps (RecommenderPipeline): the
                # harness checks them around every recommender instead
                and not issubclass(cls, Pipeline)
            ):
                found[name] = cls
    return sorted(found.items(), key=itemgetter(0))


def all_recommenders():
    """The public estimators that implement ``recommend``.

    Returns
    -------
    recommenders : list of (name, class) tuples
        Sorted by name.
    """
    return [(n, c) for n, c in all_estimators() if hasattr(c, "recommend")]
