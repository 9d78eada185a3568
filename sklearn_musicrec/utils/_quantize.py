"""Post-fit compression of a model's factor matrices: float16 or int8 with per-row scales.

The one home of the quantisation arithmetic (like scikit-learn's
``sparsify()`` for linear models, a model is compressed after ``fit`` and
keeps predicting). A quantised matrix is a :class:`QuantizedArray`:

- ``"float16"``: the values rounded to half precision (2 bytes per entry);
- ``"int8"``: symmetric per-row quantisation, ``A[i] ~ scales[i] * codes[i]``
  with ``codes`` int8 in ``[-127, 127]`` and ``scales[i] = max|A[i]| / 127``
  in float32 (1 byte per entry plus 4 per row).

Models never materialise the whole float matrix permanently: scoring
(:func:`matmul_t`) dequantises one block of rows at a time (int8 codes are
multiplied as floats and scaled after the product), a fold-in gathers only the
rows it reads (:func:`take_rows`), and :func:`as_dense` gives a temporary
float32 copy where a kernel needs the whole matrix. Each helper also accepts a
plain ndarray, so model code is written once for both.

:class:`QuantizeMixin` gives an estimator its public ``quantize(dtype)``
method and ``quantized_dtype_``; the estimator lists the attributes it
compresses in ``_quantized_attributes``.
"""

from typing import Self

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "QUANTIZED_DTYPES",
    "QuantizeMixin",
    "QuantizedArray",
    "as_dense",
    "matmul_t",
    "quantize_rows",
    "take_rows",
]

QUANTIZED_DTYPES = ("float16", "int8")

# rows dequantised at once by matmul_t: 8192 x 64 float32 = 2 MiB, near the caches
_BLOCK_ENTRIES = 1 << 19


class QuantizedArray:
    """A 2-D float matrix stored as float16, or as int8 codes with per-row scales.

    Created by :func:`quantize_rows`. ``np.asarray(q)`` gives the
    dequantised float32 matrix (a new array each time).

    Attributes
    ----------
    codes : ndarray of shape (n_rows, n_cols), float16 or int8
        The stored values.
    scales : ndarray of float32 of shape (n_rows,) or None
        Per-row scales of int8 codes (``None`` for float16).
    kind : {"float16", "int8"}
        The storage type.
    """

    __slots__ = ("codes", "scales", "kind")

    def __init__(self, codes, scales, kind):
        self.codes = codes
        self.scales = scales
        self.kind = kind

    @property
    def shape(self):
        return self.codes.shape

    @property
    def ndim(self):
        return 2

    @property
    def dtype(self):
        """The dtype of the dequantised values (float32)."""
        return np.dtype(np.float32)

    @property
    def nbytes(self):
        """Bytes stored: codes plus scales."""
        return self.codes.nbytes + (0 if self.scales is None else self.scales.nbytes)

    def __len__(self):
        return self.codes.shape[0]

    def __array__(self, dtype=None, copy=None):
        out = self.dequantize()
        return out if dtype is None else out.astype(dtype, copy=False)

    def dequantize(self, rows=None):
        """float32 values of all rows, or of the rows ``rows`` (an index array or slice)."""
        codes = self.codes if rows is None else self.codes[rows]
        out = codes.astype(np.float32)
        if self.scales is not None:
            scales = self.scales if rows is None else self.scales[rows]
            out *= scales[:, None]
        return out

    def __repr__(self):
        return f"QuantizedArray(kind={self.kind!r}, shape={self.shape})"

    def __getstate__(self):
        return (self.codes, self.scales, self.kind)

    def __setstate__(self, state):
        self.codes, self.scales, self.kind = state


def quantize_rows(A, dtype):
    """Quantise the float matrix ``A`` row by row.

    Parameters
    ----------
    A : ndarray of shape (n_rows, n_cols)
        Values to compress (float32 or float64; a :class:`QuantizedArray`
        is dequantised first).
    dtype : {"float16", "int8"}
        ``"float16"``: half precision; ``"int8"``: symmetric codes in
        ``[-127, 127]`` with the float32 scale ``max|A[i]| / 127`` per row
        (a zero row gets scale 0 and zero codes).

    Returns
    -------
    quantized : QuantizedArray

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_musicrec.utils._quantize import quantize_rows
    >>> A = np.array([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0]], dtype=np.float32)
    >>> q = quantize_rows(A, "int8")
    >>> q.codes
    array([[  64, -127,   32],
           [   0,    0,    0]], dtype=int8)
    >>> bool(np.abs(np.asarray(q) - A).max() <= 1.0 / 254)
    True
    """
    A = as_dense(A)
    if A.ndim != 2:
        raise ValueError(f"quantize_rows expects a 2-D matrix, got {A.ndim} dimensions.")
    if dtype == "float16":
        return QuantizedArray(A.astype(np.float16), None, "float16")
    if dtype == "int8":
        peak = np.abs(A).max(axis=1).astype(np.float32) if A.shape[1] else np.zeros(A.shape[0])
        scales = (peak / np.float32(127.0)).astype(np.float32)
        safe = np.where(scales > 0, scales, np.float32(1.0))
        codes = np.clip(np.rint(A / safe[:, None]), -127, 127).astype(np.int8)
        return QuantizedArray(codes, scales, "int8")
    raise ValueError(f"dtype must be one of {list(QUANTIZED_DTYPES)}, got {dtype!r}.")


def as_dense(A):
    """``A`` as a float32 ndarray: itself if it is one, else dequantised (a temporary)."""
    if isinstance(A, QuantizedArray):
        return A.dequantize()
    return np.asarray(A)


def take_rows(A, rows):
    """Rows ``rows`` of ``A`` as a float32 (or ``A``'s own float) ndarray."""
    if isinstance(A, QuantizedArray):
        return A.dequantize(rows)
    return A[rows]


def matmul_t(U, A, out=None):
    """``U @ A.T`` for a plain or quantised ``A``, dequantising blocks of rows of ``A``.

    Parameters
    ----------
    U : ndarray of float32 of shape (n, k)
    A : ndarray or QuantizedArray of shape (m, k)
    out : ndarray of float32 of shape (n, m), optional

    Returns
    -------
    product : ndarray of shape (n, m)
        For int8 codes each block is ``(U @ codes.T) * scales``: the codes
        are converted to float32 one block at a time (never the whole
        matrix) and the scale is applied to the product.
    """
    if not isinstance(A, QuantizedArray):
        return np.matmul(U, A.T, out=out)
    m, k = A.shape
    if out is None:
        out = np.empty((U.shape[0], m), dtype=np.float32)
    block = max(1, _BLOCK_ENTRIES // max(1, k))
    for start in range(0, m, block):
        stop = min(m, start + block)
        part = out[:, start:stop]
        np.matmul(U, A.codes[start:stop].astype(np.float32).T, out=part)
        if A.scales is not None:
            part *= A.scales[start:stop]
    return out


class QuantizeMixin:
    """``quantize(dtype)`` and ``quantized_dtype_`` for a fitted model.

    The model lists the fitted attributes to compress in
    ``_quantized_attributes`` (names of 2-D float arrays) and reads them
    only through :func:`matmul_t`, :func:`take_rows` and :func:`as_dense`.
    A refit stores plain arrays again, which makes the model
    unquantised (``quantized_dtype_`` is derived from the attributes).

    A model whose matrices are not plain attributes (the neural models keep
    them inside their torch module) overrides the two hooks instead:
    ``_quantizable_arrays()`` (name -> the float ndarray or
    :class:`QuantizedArray` now stored) and ``_store_quantized(name, q)``.
    """

    _quantized_attributes: tuple[str, ...] = ()

    def quantize(self, dtype: str = "int8") -> Self:
        """Compress the fitted factors in place; the model keeps recommending with them.

        Like scikit-learn's ``sparsify()`` on linear models, a post-fit step:
        the stored factor (or embedding) matrices are replaced by compressed
        ones, which shrinks the model in memory and in its pickle, and every
        method scores with the compressed values (dequantised on the fly,
        block by block). Rows folded in later are solved against the
        dequantised factors. Fitting again discards the compression.

        Parameters
        ----------
        dtype : {"int8", "float16"}, default="int8"
            ``"float16"``: half precision (half the size of float32);
            ``"int8"``: symmetric per-row quantisation, each row stored as
            int8 codes in ``[-127, 127]`` times one float32 scale
            (``max|row| / 127``), about a quarter of the size. Quantising an
            already quantised model starts from its dequantised values.

        Returns
        -------
        self : object
            The model, compressed.
        """
        check_is_fitted(self)
        if not isinstance(dtype, str) or dtype not in QUANTIZED_DTYPES:
            raise ValueError(
                f"dtype passed to {type(self).__name__}.quantize must be one of "
                f"{list(QUANTIZED_DTYPES)}, got {dtype!r}."
            )
        compressed = {
            name: quantize_rows(value, dtype)
            for name, value in self._quantizable_arrays().items()
            if value is not None
        }
        for name, value in compressed.items():
            self._store_quantized(name, value)
        return self

    def _quantizable_arrays(self) -> dict:
        """``{name: matrix}`` of what ``quantize`` compresses (None: absent here).

        Raises ``AttributeError`` on an unfitted model.
        """
        return {name: getattr(self, name) for name in self._quantized_attributes}

    def _store_quantized(self, name: str, value: QuantizedArray) -> None:
        """Replace the matrix ``name`` of :meth:`_quantizable_arrays` by ``value``."""
        setattr(self, name, value)

    @property
    def quantized_dtype_(self) -> str | None:
        """``"float16"`` or ``"int8"`` after :meth:`quantize`, ``None`` before.

        Raises ``AttributeError`` on an unfitted model (as fitted attributes do).
        """
        kinds = {
            value.kind
            for value in self._quantizable_arrays().values()
            if isinstance(value, QuantizedArray)
        }
        return kinds.pop() if kinds else None
