"""Matrix-factorisation recommenders.

:class:`ALSFactorizer` (alternating least squares, implicit or explicit
feedback) and :class:`SGDFactorizer` (stochastic gradient descent, squared or
BPR loss). Both fold new users in without refitting and act as transformers
from interaction rows to user factors. Their CPU kernels are compiled with
numba on first use; the ``device="cuda"`` path uses PyTorch. Neither is
imported with the package. :class:`ApproximateRecommender` wraps either and
answers whole-catalogue top-k queries from an approximate nearest-neighbour
index (faiss HNSW, an optional dependency) for large catalogues.
"""

from ._als import ALSFactorizer
from ._approximate import ApproximateRecommender
from ._sgd import SGDFactorizer

__all__ = ["ALSFactorizer", "ApproximateRecommender", "SGDFactorizer"]
