"""Matrix-factorisation recommenders.

:class:`ALSFactorizer` (alternating least squares, implicit or explicit
feedback) and :class:`SGDFactorizer` (stochastic gradient descent, squared or
BPR loss). Both fold new users in without refitting and act as transformers
from interaction rows to user factors. Their CPU kernels are compiled with
numba on first use; the ``device="cuda"`` path uses PyTorch. Neither is
imported with the package.
"""

from ._als import ALSFactorizer
from ._sgd import SGDFactorizer

__all__ = ["ALSFactorizer", "SGDFactorizer"]
