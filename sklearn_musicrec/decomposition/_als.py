"""Alternating least squares matrix factorisation (implicit and explicit)."""

import logging
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ..utils._parallel import map_in_threads
from ..utils._sklearn_compat import Integral, Interval, Real, StrOptions, _fit_context
from ..utils._sparse import clean_csr_copy
from ..utils._weighting import weighting_constraints
from ._base import _BaseFactorizer, _cpu_threads, _resolve_device

__all__ = ["ALSFactorizer"]

logger = logging.getLogger(__name__)


def _as_float32_csr(X):
    """A float32 CSR copy of ``X`` without explicit zeros, indices sorted."""
    return clean_csr_copy(X, np.float32)


def _ill_posed(whom, n_failed, side, regularization):
    return ValueError(
        f"{whom}: the least-squares systems of {n_failed} {side} are not "
        f"positive definite (regularization={regularization!r}); the problem is "
        "ill-posed. Use a positive regularization or fewer n_components."
    )


class _CPUBackend:
    """Numba kernels on host arrays."""

    device = "cpu"

    def __init__(self, n_jobs):
        self.n_jobs = n_jobs
        self._buffers = {}

    def matrix(self, R):
        return R

    def array(self, a):
        return np.ascontiguousarray(a, dtype=np.float32)

    def host(self, a):
        return a

    def zeros(self, n):
        return np.zeros(n, dtype=np.float32)

    def _buffer(self, name, shape):
        """A reusable float32 work array (fresh memory is slow to fault in)."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape:
            buf = self._buffers[name] = np.empty(shape, dtype=np.float32)
        return buf

    @staticmethod
    def _map_blocks(func, n_rows, block):
        """``[func(start, stop) ...]`` over fixed blocks of rows, on the numba threads.

        The blocks do not depend on the number of threads, and each is one
        BLAS call on one BLAS thread (numpy releases the GIL), so the results
        are the same at any thread count.
        """
        import numba

        bounds = [(s, min(n_rows, s + block)) for s in range(0, n_rows, block)]
        return map_in_threads(lambda ab: func(*ab), bounds, numba.get_num_threads())

    def gram(self, Y):
        """``Y^T Y`` in float64: float32 products over blocks of rows, summed in float64."""
        k = Y.shape[1]
        G = np.zeros((k, k), dtype=np.float64)
        for part in self._map_blocks(lambda a, b: Y[a:b].T @ Y[a:b], Y.shape[0], 2048):
            G += part
        return G

    def _rotate(self, A, Q, out):
        """``out = A @ Q`` by fixed blocks of rows, in parallel."""
        self._map_blocks(lambda a, b: np.matmul(A[a:b], Q, out=out[a:b]), A.shape[0], 8192)
        return out

    def _eigensystem(self, Y, reg, G):
        """Eigenvalues and float64 eigenvectors of ``G + reg * I`` (``G = Y^T Y``)."""
        G = self.gram(Y) if G is None else G.copy()
        G[np.diag_indices_from(G)] += reg
        return np.linalg.eigh(G)

    def implicit_exact_step(self, R, Y, X, reg, scale, G=None):
        """Solve every row of ``X`` exactly given ``Y``; returns the singular rows' count.

        ``G`` is ``Y^T Y`` (computed when None). ``X`` and ``Y`` may be in any
        basis as long as it is the same; ``Y`` is not modified.
        """
        from . import _als_cpu

        lam, Q64 = self._eigensystem(Y, reg, G)
        Yr = self._rotate(Y, Q64.astype(np.float32), self._buffer(("Yr", Y.shape[0]), Y.shape))
        failed = np.zeros(X.shape[0], dtype=np.uint8)
        _als_cpu.implicit_exact_eig(
            R.indptr, R.indices, R.data, np.float64(scale), Yr, lam, Q64, X, failed
        )
        return int(failed.sum())

    def rotate_in_place(self, A, Q):
        """``A[:] = A @ Q`` by fixed blocks of rows, in parallel (no full-size copy)."""

        def block(a, b):
            A[a:b] = A[a:b] @ Q

        self._map_blocks(block, A.shape[0], 8192)
        return A

    def implicit_cg_step(self, R, Y, X, reg, scale, cg_steps, G, row_loss=None):
        """``cg_steps`` warm-started CG steps per row of ``X``, in the system's eigenbasis.

        ``G`` is ``Y^T Y`` in the basis the factors are in now. Both ``X`` and
        ``Y`` are rotated, in place and block by block, into the eigenbasis
        ``P`` of ``G + reg * I`` and stay there: the next half-step rotates
        them on from it, so each half-step costs two rotations instead of
        three (``Y``, ``X`` and ``X`` back) and no second copy of either.
        ``U V^T``, the CG iterates (CG is invariant under an orthogonal change
        of basis) and the losses do not depend on the basis; the fit rotates
        the factors back at the end. ``row_loss`` receives each row's observed
        loss. Returns ``(True, P)``, or ``(False, None)`` without touching
        anything if ``G + reg * I`` is not positive definite (CG needs it).
        """
        from . import _als_cpu

        lam, P64 = self._eigensystem(Y, reg, G)
        if not lam[0] > 0:
            return False, None
        P = P64.astype(np.float32)
        self.rotate_in_place(X, P)
        self.rotate_in_place(Y, P)
        _als_cpu.implicit_cg_eig(
            R.indptr,
            R.indices,
            R.data,
            np.float32(scale),
            Y,
            lam.astype(np.float32),
            X,
            cg_steps,
            np.zeros(0, dtype=np.float64) if row_loss is None else row_loss,
        )
        return True, P.astype(np.float64)

    def implicit_loss(self, R, Y, X, reg, scale, GY=None, GX=None, per_row=None):
        """The implicit objective; ``per_row``: observed parts already computed."""
        from . import _als_cpu

        GY = self.gram(Y) if GY is None else GY
        GX = self.gram(X) if GX is None else GX
        if per_row is None:
            per_row = np.zeros(X.shape[0], dtype=np.float64)
            _als_cpu.implicit_row_loss(
                R.indptr, R.indices, R.data, np.float64(scale), Y, X, per_row
            )
        dense = np.sum(GX * GY)
        penalty = reg * (np.trace(GX) + np.trace(GY))
        return float(per_row.sum() + dense + penalty)

    def offsets(self, mean, bias):
        return mean + bias.astype(np.float64)

    def explicit_step(self, R, Y, offsets, reg, X, bias, exponent=1.0, reg_bias=None):
        from . import _als_cpu

        failed = np.zeros(X.shape[0], dtype=np.uint8)
        reg_bias = reg if reg_bias is None else reg_bias
        _als_cpu.explicit_cholesky(
            R.indptr,
            R.indices,
            R.data,
            Y,
            offsets,
            float(reg),
            float(reg_bias),
            float(exponent),
            X,
            bias,
            failed,
        )
        return int(failed.sum())

    def explicit_sse(self, R, Y, offsets, X, bias):
        from . import _als_cpu

        per_row = np.zeros(X.shape[0], dtype=np.float64)
        _als_cpu.explicit_row_loss(
            R.indptr,
            R.indices,
            R.data,
            Y,
            offsets,
            X,
            bias,
            per_row,
        )
        return float(per_row.sum())


class _TorchBackend:
    """Batched torch kernels (used for CUDA; runs on any torch device)."""

    def __init__(self, device):
        self.device = f"torch:{device}"
        self._device = device

    def matrix(self, R):
        from ._als_torch import TorchMatrix

        return TorchMatrix(R, self._device)

    def array(self, a):
        import torch

        return torch.as_tensor(np.asarray(a, dtype=np.float32), device=self._device).clone()

    def host(self, a):
        return a.detach().cpu().numpy().astype(np.float32)

    def zeros(self, n):
        import torch

        return torch.zeros(n, dtype=torch.float32, device=self._device)

    def offsets(self, mean, bias):
        return mean + bias.double()

    def gram(self, Y):
        from . import _als_torch

        return _als_torch.gram(Y, 0.0)

    def implicit_exact_step(self, R, Y, X, reg, scale, G=None):
        from . import _als_torch

        return _als_torch.implicit_cholesky(R, Y, X, reg, scale, G)

    def implicit_cg_step(self, R, Y, X, reg, scale, cg_steps, G, row_loss=None):
        """CG steps in the original basis (``row_loss`` is not computed here)."""
        from . import _als_torch

        _als_torch.implicit_cg(R, Y, X, reg, scale, cg_steps, G)
        return True, None

    def implicit_loss(self, R, Y, X, reg, scale, GY=None, GX=None, per_row=None):
        from . import _als_torch

        return _als_torch.implicit_loss(R, Y, X, reg, scale, GY, GX)

    def explicit_step(self, R, Y, offsets, reg, X, bias, exponent=1.0, reg_bias=None):
        from . import _als_torch

        reg_bias = reg if reg_bias is None else reg_bias
        return _als_torch.explicit_cholesky(R, Y, offsets, reg, X, bias, exponent, reg_bias)

    def explicit_sse(self, R, Y, offsets, X, bias):
        from . import _als_torch

        return _als_torch.explicit_sse(R, Y, offsets, X, bias)

    def all_finite(self, *arrays):
        import torch

        return all(bool(torch.isfinite(a).all()) for a in arrays)


def _all_finite(*arrays):
    return all(np.isfinite(a).all() for a in arrays)


class ALSFactorizer(_BaseFactorizer):
    """Matrix factorisation by alternating least squares.

    With ``feedback="implicit"`` (the default) this is the weighted matrix
    factorisation of Hu, Koren & Volinsky (2008) for implicit feedback such
    as play counts: every user-item pair is fitted, the preference
    ``p_ui = 1[x_ui > 0]`` with confidence ``c_ui = 1 + confidence_scale *
    x_ui``, minimising::

        sum_ui c_ui (p_ui - u_u . v_i)^2 + regularization (|U|^2 + |V|^2)

    With ``feedback="explicit"`` only the stored entries (ratings) are
    fitted, by a biased model ``r_ui ~ mu + b_u + c_i + u_u . v_i`` with
    frequency-weighted regularisation (each user's and item's penalty is
    scaled by its number of ratings to the power ``e =
    regularization_exponent``; ``e = 1`` is the weighted-lambda
    regularisation of Zhou et al. 2008)::

        sum_(u,i) stored (r_ui - mu - b_u - c_i - u_u . v_i)^2
            + regularization (sum_u n_u^e |u_u|^2 + sum_i n_i^e |v_i|^2)
            + bias_regularization (sum_u n_u^e b_u^2 + sum_i n_i^e c_i^2)

    and ``decision_function`` returns predicted ratings.

    Rows of ``X`` passed to ``decision_function``, ``recommend`` and
    ``transform`` are folded in: their user factors are solved exactly with
    the item factors fixed (the same solve as the last half-step of
    ``fit``), so users unseen in ``fit`` need no refit and a training row
    gives back its ``user_factors_`` row.

    Parameters
    ----------
    n_components : int, default=64
        Number of latent factors.
    feedback : {"implicit", "explicit"}, default="implicit"
        Whether ``X`` holds implicit feedback (play counts, clicks; zeros are
        "not played") or explicit ratings (zeros are "not rated").
    weighting : {"auto", "bm25", "binary", "log"}, transformer or None, \
            default="auto"
        How ``X`` is weighted before it is factorised, in ``fit`` and, with
        the statistics learned there, for every row folded in later (see
        ``weighting_``); ``x_ui`` in the objectives below is the weighted
        value. ``"auto"`` is ``"bm25"``
        (:class:`~sklearn_musicrec.preprocessing.BM25Weighting` with
        ``k1=1.2, b=0.75``) for implicit feedback and ``None`` (the ratings
        as given) for explicit feedback; ``"binary"`` maps every play count
        to 1 (:class:`sklearn.preprocessing.Binarizer`), ``"log"`` to ``1 +
        log(1 + x)`` (:class:`~sklearn_musicrec.preprocessing.LogScaling`);
        a transformer is cloned and used as given; ``None`` uses ``X`` as
        given (implicit's convention: pass ``weighting=None`` to factorise
        the raw confidences). Why BM25: raw play counts give confidences in
        the hundreds of thousands; on lastfm-2k (per-user 80/20, NDCG@20,
        ``benchmarks/bench_defaults.py``) the defaults reach 0.298 on raw
        play counts (0.296 on binarised input), where the former defaults
        (no weighting, ``confidence_scale=1``, ``regularization=0.01``)
        reached 0.175 on raw counts and 0.250 binarised (popularity:
        0.099).
    confidence_scale : float, default=0.5
        Implicit feedback only: ``c_ui = 1 + confidence_scale * x_ui`` (on
        the weighted ``x_ui``). 0.5 with ``regularization=10`` is the best
        setting measured on BM25-weighted lastfm-2k play counts (NDCG@20
        0.297 vs 0.283 with 1.0 and 0.01, mean of seeds 1 and 2, in the
        protocol of ``benchmarks/bench_defaults.py``).
        implicit's ``AlternatingLeastSquares(alpha=a)`` uses ``c_ui = a *
        x_ui`` instead, so fitting this model with ``confidence_scale=s`` on
        ``X`` (with ``weighting=None``) solves the same problem as implicit
        with ``alpha=1`` on the matrix whose stored entries are ``1 + s *
        x_ui``.
    regularization : float, default=None
        L2 penalty (see the objectives above). ``None`` means 10.0 for
        implicit feedback (the best measured on the default BM25-weighted
        input, see ``confidence_scale``; implicit's default is 0.01) and 0.1
        for explicit feedback
        (near the best value on MovieLens-100K, see
        ``benchmarks/bench_mf_explicit.py``).
    regularization_exponent : float, default=1.0
        Explicit feedback only: the penalty of a user (item) with ``n``
        ratings is scaled by ``n ** regularization_exponent`` (see the
        objective above). ``1.0`` is weighted-lambda regularisation; ``0.5``
        with a larger ``regularization`` (1.2 to 1.4) was better on
        MovieLens-100K (``benchmarks/bench_mf_explicit.py``). Ignored for
        implicit feedback.
    bias_regularization : float, default=None
        Explicit feedback only: L2 penalty of the user and item biases
        (scaled like the factors' by ``n ** regularization_exponent``).
        ``None`` means the same as ``regularization``. Biases are only two
        numbers per user and item, and a weaker penalty on them than on the
        factors (about half) was better on MovieLens-100K. Ignored for
        implicit feedback.
    solver : {"cg", "cholesky"}, default="cg"
        How each half-step solves the per-row systems during training:
        ``"cg"`` runs ``cg_steps`` conjugate-gradient steps warm-started from
        the previous factors (Takács et al. 2011, as implicit does);
        ``"cholesky"`` solves them exactly. Explicit feedback always solves
        exactly. The final user half-step and fold-in are always exact.
        On the CPU both work in the eigenbasis of ``V^T V + reg * I``, where
        its part of every system is diagonal: a CG step costs ``O(n_u k)``
        instead of ``O(n_u k + k^2)``, and exact solves of short rows use the
        Woodbury identity (an ``n_u x n_u`` instead of a ``k x k``
        factorisation).
    cg_steps : int, default=3
        Conjugate-gradient steps per row and half-step (``solver="cg"``).
    max_iter : int, default=15
        Number of ALS iterations. Each solves the users, then the items (as
        implicit does); after the last one the users are solved once more,
        exactly, so that ``user_factors_`` is what fold-in computes.
    tol : float, default=0.0
        Stop when the relative decrease of the training loss over one
        iteration is below ``tol``. The default, 0, runs exactly
        ``max_iter`` iterations (as implicit does). With ``tol > 0`` a
        :class:`~sklearn.exceptions.ConvergenceWarning` is raised when the
        criterion is not met within ``max_iter`` iterations.
    device : {"cpu", "cuda"}, default="cpu"
        Where ``fit`` runs. ``"cpu"`` uses compiled numba kernels
        parallelised over rows; ``"cuda"`` uses batched PyTorch kernels on a
        GPU. Fitted attributes are always NumPy arrays, and fold-in always
        runs on the CPU, so a model fitted on a GPU is used anywhere.
    n_jobs : int, default=None
        CPU threads for ``fit``, fold-in and scoring. ``None`` means 1 unless
        in a ``joblib.parallel_config`` context, ``-1`` means all cores (as
        everywhere in scikit-learn). Results do not depend on it.
    random_state : int, RandomState instance or None, default=None
        Seed of the initial factors. Pass an int for reproducible results
        (the same at any ``n_jobs``).
    verbose : int, default=0
        Log the loss and time of every iteration at INFO level (logger
        ``sklearn_musicrec.decomposition._als``).

    Attributes
    ----------
    weighting_ : transformer or None
        The fitted input weighting (``weighting`` resolved), applied to
        every ``X`` passed after ``fit``; ``None`` when the input is used as
        given.
    user_factors_ : ndarray of float32 of shape (n_users, n_components)
        Factors of the users (rows) of the training matrix.
    item_factors_ : ndarray of float32 of shape (n_items, n_components)
        Factors of the items.
    global_mean_ : float
        Mean stored rating (explicit feedback; 0.0 for implicit).
    user_bias_ : ndarray of float32 of shape (n_users,) or None
        User biases (explicit feedback only).
    item_bias_ : ndarray of float32 of shape (n_items,) or None
        Item biases (explicit feedback only).
    rating_range_ : tuple of (float, float) or None
        Lowest and highest rating seen in ``fit`` (explicit feedback; None
        for implicit). :meth:`predict_ratings` clips to it by default.
    loss_curve_ : list of float
        Training objective (as written above, unnormalised) after every
        iteration; the last entry includes the final exact user half-step.
    n_iter_ : int
        Number of iterations run.
    n_features_in_ : int
        Number of items seen in ``fit``.
    item_counts_ : ndarray of int64 of shape (n_items,)
        Number of users with a non-zero entry for each item.

    See Also
    --------
    SGDFactorizer : Matrix factorisation by stochastic gradient descent
        (squared loss or BPR).

    References
    ----------
    Y. Hu, Y. Koren and C. Volinsky, "Collaborative Filtering for Implicit
    Feedback Datasets", ICDM 2008.

    G. Takács, I. Pilászy and D. Tikk, "Applications of the conjugate
    gradient method for implicit feedback collaborative filtering",
    RecSys 2011.

    Y. Zhou, D. Wilkinson, R. Schreiber and R. Pan, "Large-Scale Parallel
    Collaborative Filtering for the Netflix Prize", AAIM 2008.

    Examples
    --------
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.decomposition import ALSFactorizer
    >>> X = make_interactions(n_users=60, n_items=40, random_state=0).data
    >>> model = ALSFactorizer(n_components=8, random_state=0).fit(X)
    >>> model.user_factors_.shape, model.item_factors_.shape
    ((60, 8), (40, 8))
    >>> ids, scores = model.recommend(X[:2], k=3)
    >>> ids.shape
    (2, 3)
    >>> model.transform(X[:2]).shape
    (2, 8)
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "feedback": [StrOptions({"implicit", "explicit"})],
        "weighting": weighting_constraints("auto"),
        "confidence_scale": [Interval(Real, 0, None, closed="left")],
        "regularization": [Interval(Real, 0, None, closed="left"), None],
        "regularization_exponent": [Interval(Real, 0, None, closed="left")],
        "bias_regularization": [Interval(Real, 0, None, closed="left"), None],
        "solver": [StrOptions({"cg", "cholesky"})],
        "cg_steps": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "device": [StrOptions({"cpu", "cuda"})],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        n_components=64,
        feedback="implicit",
        weighting="auto",
        confidence_scale=0.5,
        regularization=None,
        regularization_exponent=1.0,
        bias_regularization=None,
        solver="cg",
        cg_steps=3,
        max_iter=15,
        tol=0.0,
        device="cpu",
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.feedback = feedback
        self.weighting = weighting
        self.confidence_scale = confidence_scale
        self.regularization = regularization
        self.regularization_exponent = regularization_exponent
        self.bias_regularization = bias_regularization
        self.solver = solver
        self.cg_steps = cg_steps
        self.max_iter = max_iter
        self.tol = tol
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _regularization(self):
        if self.regularization is not None:
            return float(self.regularization)
        return 10.0 if self.feedback == "implicit" else 0.1

    def _resolved_weighting(self):
        """The weighting ``fit`` applies: ``"auto"`` depends on ``feedback``."""
        if isinstance(self.weighting, str) and self.weighting == "auto":
            return "bm25" if self.feedback == "implicit" else None
        return self.weighting

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn user and item factors from the interaction matrix ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Non-negative interactions such as raw play counts (implicit
            feedback; weighted as ``weighting`` says) or ratings (explicit
            feedback; zeros mean "not rated").
        y : None
            Ignored.

        Returns
        -------
        self : ALSFactorizer
            The fitted model.
        """
        X = self._fit_weighting(self._validate_fit_data(X), self._resolved_weighting())
        device = _resolve_device(self.device, type(self).__name__)
        rng = check_random_state(self.random_state)
        R = _as_float32_csr(X)
        n_users, n_items = R.shape
        k = self.n_components
        # float32 from the start: a float64 copy held during the fit would
        # double the largest arrays
        if self.feedback == "implicit":
            U0 = (rng.random_sample((n_users, k)) * 0.01).astype(np.float32)
            V0 = (rng.random_sample((n_items, k)) * 0.01).astype(np.float32)
        else:
            U0 = rng.normal(scale=0.1, size=(n_users, k)).astype(np.float32)
            V0 = rng.normal(scale=0.1, size=(n_items, k)).astype(np.float32)
        if device == "cpu":
            backend = _CPUBackend(self.n_jobs)
            with _cpu_threads(self.n_jobs):
                self._fit_loop(backend, R, U0, V0)
        else:
            self._fit_loop(_TorchBackend(device), R, U0, V0)
        return self

    def _fit_loop(self, backend, R, U0, V0):
        whom = type(self).__name__
        reg = self._regularization()
        scale = float(self.confidence_scale)
        implicit = self.feedback == "implicit"
        RT = R.T.tocsr()
        RT.sort_indices()
        Rb, RTb = backend.matrix(R), backend.matrix(RT)
        # (on the CPU these are U0 and V0 themselves, updated in place)
        U, V = backend.array(U0), backend.array(V0)
        if implicit:
            mean = 0.0
        else:
            mean = float(R.data.mean())
            ubias, ibias = backend.zeros(R.shape[0]), backend.zeros(R.shape[1])
            expo = float(self.regularization_exponent)
            reg_bias = self._bias_regularization()
            w_u = np.diff(R.indptr).astype(np.float64) ** expo
            w_i = np.diff(RT.indptr).astype(np.float64) ** expo
        finite = getattr(backend, "all_finite", _all_finite)

        def check(failed, side, arrays, it):
            if failed:
                raise _ill_posed(whom, failed, side, reg)
            if not finite(*arrays):
                raise ValueError(
                    f"{whom}: the factors became non-finite at iteration {it} "
                    f"(regularization={reg!r}, confidence_scale={scale!r}); the "
                    "problem is ill-posed or badly scaled. Increase "
                    "regularization or scale X down."
                )

        exact = self.solver == "cholesky"
        # The CPU CG steps leave both sides in the eigenbasis of the last
        # half-step's system (see _CPUBackend.implicit_cg_step); the rotation
        # accumulated since the original basis (None: none) is kept here.
        basis = None
        G_V = backend.gram(V) if implicit else None

        def to_original_basis():
            nonlocal G_V, basis
            if basis is not None:
                back = np.ascontiguousarray(basis.T, dtype=np.float32)
                backend.rotate_in_place(U, back)
                backend.rotate_in_place(V, back)
                G_V = backend.gram(V)
                basis = None

        def implicit_half_step(R, X, Y, G, side, it, row_loss=None):
            """Solve the ``side`` rows ``X`` in place; returns ``(P, filled)``.

            ``P`` is the rotation both sides went through (None if none) and
            ``filled`` whether ``row_loss`` was written.
            """
            nonlocal basis
            if not exact:
                ok, P = backend.implicit_cg_step(R, Y, X, reg, scale, self.cg_steps, G, row_loss)
                if ok:
                    if P is not None:
                        basis = P if basis is None else basis @ P
                    check(0, side, (X,), it)
                    return P, row_loss is not None
            # the exact solve, in whatever basis the factors are in, also
            # reports the singular rows where CG could not start
            check(backend.implicit_exact_step(R, Y, X, reg, scale, G), side, (X,), it)
            return None, False

        def explicit_half_step(R, Y, other_bias, X, bias, side, it):
            failed = backend.explicit_step(
                R, Y, backend.offsets(mean, other_bias), reg, X, bias, expo, reg_bias
            )
            check(failed, side, (X, bias), it)

        def explicit_loss():
            return self._explicit_loss(
                backend, Rb, U, V, ubias, ibias, mean, reg, reg_bias, w_u, w_i
            )

        def final_user_step(it):
            """Exact user half-step (fold-in's solve); returns the loss after it."""
            if implicit:
                to_original_basis()
                failed = backend.implicit_exact_step(Rb, V, U, reg, scale, G_V)
                check(failed, "users", (U,), it)
                return backend.implicit_loss(Rb, V, U, reg, scale, G_V, None)
            explicit_half_step(Rb, V, ibias, U, ubias, "users", it)
            return explicit_loss()

        # Each iteration solves the users, then the items (implicit's order:
        # starting from the random item factors converges markedly faster
        # than the other way round). A final exact user half-step then makes
        # user_factors_ what fold-in computes from item_factors_; the last
        # entry of loss_curve_ includes it.
        self.loss_curve_ = []
        converged = False
        for it in range(1, self.max_iter + 1):
            tic = time.perf_counter()
            last = it == self.max_iter
            if implicit:
                implicit_half_step(Rb, U, V, G_V, "users", it)
                G_U = backend.gram(U)
                # the CPU CG kernel also returns the loss terms of the rows it
                # solves (here the items), saving a pass over the data
                item_loss = (
                    np.zeros(R.shape[1], dtype=np.float64) if backend.device == "cpu" else None
                )
                P, filled = implicit_half_step(RTb, V, U, G_U, "items", it, item_loss)
                if P is not None:
                    G_U = P.T @ G_U @ P
                G_V = backend.gram(V)
            else:
                explicit_half_step(Rb, V, ibias, U, ubias, "users", it)
                explicit_half_step(RTb, U, ubias, V, ibias, "items", it)

            if last:
                loss = final_user_step(it)
            elif implicit:
                loss = backend.implicit_loss(
                    Rb, V, U, reg, scale, G_V, G_U, item_loss if filled else None
                )
            else:
                loss = explicit_loss()
            if not np.isfinite(loss):
                check(0, "", (np.array([np.nan]),), it)
            self.loss_curve_.append(loss)
            if self.verbose:
                logger.info(
                    "%s iteration %d: loss %.6g (%.2fs)",
                    whom,
                    it,
                    loss,
                    time.perf_counter() - tic,
                )
            if it > 1 and self.tol > 0 and not last:
                previous = self.loss_curve_[-2]
                if previous - loss <= self.tol * abs(previous):
                    converged = True
                    self.loss_curve_[-1] = final_user_step(it)
                    break
        self.n_iter_ = it
        if self.tol > 0 and not converged:
            warnings.warn(
                f"{whom} did not converge: the relative decrease of the loss "
                f"was still above tol={self.tol} after max_iter={self.max_iter} "
                "iterations. Increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.user_factors_ = backend.host(U)
        self.item_factors_ = backend.host(V)
        if implicit:
            self.global_mean_ = 0.0
            self.user_bias_ = self.item_bias_ = None
        else:
            self.global_mean_ = mean
            self.user_bias_ = backend.host(ubias)
            self.item_bias_ = backend.host(ibias)

    @staticmethod
    def _explicit_loss(backend, Rb, U, V, ubias, ibias, mean, reg, reg_bias, w_u, w_i):
        sse = backend.explicit_sse(Rb, V, backend.offsets(mean, ibias), U, ubias)
        Uh = backend.host(U).astype(np.float64)
        Vh = backend.host(V).astype(np.float64)
        ub = backend.host(ubias).astype(np.float64)
        ib = backend.host(ibias).astype(np.float64)
        penalty = reg * (
            np.sum(w_u * np.sum(Uh * Uh, axis=1)) + np.sum(w_i * np.sum(Vh * Vh, axis=1))
        ) + reg_bias * (np.sum(w_u * ub * ub) + np.sum(w_i * ib * ib))
        return sse + float(penalty)

    # -- fold-in -----------------------------------------------------------
    def _fold_in(self, X):
        R = _as_float32_csr(X)
        k = self.item_factors_.shape[1]
        U = np.zeros((R.shape[0], k), dtype=np.float32)
        backend = _CPUBackend(self.n_jobs)
        reg = self._regularization()
        with _cpu_threads(self.n_jobs):
            if self.feedback == "implicit":
                failed = backend.implicit_exact_step(
                    R, self.item_factors_, U, reg, float(self.confidence_scale)
                )
                bias = None
            else:
                bias = np.zeros(R.shape[0], dtype=np.float32)
                offsets = backend.offsets(self.global_mean_, self.item_bias_)
                failed = backend.explicit_step(
                    R,
                    self.item_factors_,
                    offsets,
                    reg,
                    U,
                    bias,
                    float(self.regularization_exponent),
                    self._bias_regularization(),
                )
        if failed:
            raise _ill_posed(type(self).__name__, failed, "rows of X", reg)
        if self.feedback == "explicit":
            bias = bias + np.float32(self.global_mean_)
        return U, bias

    def _item_term(self):
        return self.item_bias_

    def _predicts_ratings(self):
        return self.feedback == "explicit"

    def _rating_setting_hint(self):
        return 'feedback="explicit" makes it a rating model'
