"""Type aliases of the public API (the package ships ``py.typed``)."""

from typing import TypeAlias

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

__all__ = ["ArrayLike", "IdsAndScores", "MatrixLike"]

#: An interaction matrix or anything that converts to one: users x items.
MatrixLike: TypeAlias = ArrayLike | sp.spmatrix | sp.sparray

#: ``(item_ids, scores)`` as ``recommend`` and ``similar_items`` return them.
IdsAndScores: TypeAlias = tuple[np.ndarray, np.ndarray]
