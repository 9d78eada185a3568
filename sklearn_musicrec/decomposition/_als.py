"""Alternating least squares matrix factorisation (implicit and explicit)."""

from typing import Self

import numpy as np
from sklearn.utils import check_random_state

from ..utils._devices import resolve_device
from ..utils._sklearn_compat import Integral, Interval, Real, StrOptions, _fit_context
from ..utils._typing import MatrixLike
from ..utils._weighting import weighting_constraints
from ._als_fit import ALSSettings, backend_for, fit_als
from ._base import _BaseFactorizer
from ._base import as_float32_csr as _as_float32_csr

__all__ = ["ALSFactorizer"]


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
    device : {"cpu", "cuda", "cuda:N", "auto"}, default="cpu"
        Where ``fit`` runs. ``"cpu"`` uses compiled numba kernels
        parallelised over rows; ``"cuda"`` (or ``"cuda:N"``, the N-th GPU)
        uses batched PyTorch kernels on a GPU; ``"auto"`` is ``"cuda"`` when
        PyTorch sees one and ``"cpu"`` otherwise (resolved in ``fit`` by the
        package's one device helper). Fitted attributes are always NumPy arrays, and fold-in always
        runs on the CPU, so a model fitted on a GPU is used anywhere.
    n_jobs : int, default=None
        CPU threads for ``fit``, fold-in and scoring. ``None`` means 1 unless
        in a ``joblib.parallel_config`` context, ``-1`` means all cores (as
        everywhere in scikit-learn). Results do not depend on it.
    random_state : int, RandomState instance or None, default=None
        Seed of the initial factors. Pass an int for reproducible results
        (the same at any ``n_jobs``).
    verbose : int, default=0
        Print the loss and time of every iteration to stdout (and log them
        at INFO level, logger ``sklearn_musicrec.decomposition._als``).

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

    Notes
    -----
    Serving one user at a time: the first fold-in after ``fit`` prepares, once
    per fitted model, the eigensystem of ``V^T V + reg * I`` with the item
    factors rotated into it, and the first one-row list a copy of the
    factors ordered by norm (implicit feedback). Each is one more copy of
    ``item_factors_``, kept beside the model (not pickled) for factors of at
    most 64 MiB; then a row's fold-in reads only its own items' factors and
    its exact top-``k`` is found by scoring the items by decreasing norm
    until no remaining item can enter the list (on lastfm-2k about an eighth
    of the catalogue for a typical user): see
    ``benchmarks/bench_realtime.py``.

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
        "device": [str],  # checked in fit by utils._devices.resolve_device
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
    def fit(self, X: MatrixLike, y: None = None) -> Self:
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
        device = resolve_device(self.device, type(self).__name__)
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
        self._fit_loop(backend_for(device, self.n_jobs), R, U0, V0)
        return self

    def _fit_loop(self, backend, R, U0, V0):
        """Run :func:`~._als_fit.fit_als` on ``backend`` and store its results."""
        implicit = self.feedback == "implicit"
        settings = ALSSettings(
            whom=type(self).__name__,
            implicit=implicit,
            reg=self._regularization(),
            scale=float(self.confidence_scale),
            exact=self.solver == "cholesky",
            cg_steps=self.cg_steps,
            max_iter=self.max_iter,
            tol=self.tol,
            exponent=float(self.regularization_exponent),
            reg_bias=0.0 if implicit else self._bias_regularization(),
            verbose=self.verbose,
        )
        state = fit_als(backend, R, U0, V0, settings)
        self.loss_curve_ = state.loss_curve
        self.n_iter_ = len(state.loss_curve)
        self.user_factors_ = state.U
        self.item_factors_ = state.V
        self.global_mean_ = state.mean
        self.user_bias_ = state.ubias
        self.item_bias_ = state.ibias

    # -- fold-in -----------------------------------------------------------
    def _fold_in(self, X):
        reg = self._regularization()
        if self.feedback == "explicit":
            return self._ridge_fold_in(
                X, reg, float(self.regularization_exponent), self._bias_regularization()
            )
        return self._implicit_fold_in(X, reg, float(self.confidence_scale)), None

    def _item_term(self):
        return self.item_bias_

    def _predicts_ratings(self):
        return self.feedback == "explicit"

    def _rating_setting_hint(self):
        return 'feedback="explicit" makes it a rating model'
