"""Matrix factorisation by stochastic gradient descent (squared loss or BPR)."""

from dataclasses import replace
from typing import Self

import numpy as np
from sklearn.utils import check_random_state

from ..utils._parallel import numba_threads
from ..utils._quantize import as_dense
from ..utils._sklearn_compat import Integral, Interval, Real, StrOptions, _fit_context
from ..utils._typing import MatrixLike
from ._base import _BaseFactorizer
from ._base import as_float32_csr as _as_float32_csr
from ._sgd_fit import SGDSettings, fit_sgd

__all__ = ["SGDFactorizer"]


class SGDFactorizer(_BaseFactorizer):
    """Matrix factorisation trained by stochastic gradient descent.

    ``loss`` chooses the model, in the spirit of
    :class:`~sklearn.linear_model.SGDClassifier`:

    - ``"squared"``: biased matrix factorisation of explicit ratings (the
      "FunkSVD" of the Netflix Prize, Koren et al. 2009),
      ``r_ui ~ mu + b_u + c_i + u_u . v_i``, fitted on the stored entries of
      ``X`` (zeros mean "not rated") by SGD on the squared error with an L2
      penalty on every parameter a sample touches: ``regularization *
      n ** (regularization_exponent - 1)`` for a user (item) with ``n``
      ratings, so that over an epoch its parameters are penalised in
      proportion to ``n ** regularization_exponent`` (the objective of
      :class:`ALSFactorizer` with ``feedback="explicit"``).
      ``decision_function`` returns predicted ratings.
    - ``"bpr"``: Bayesian personalised ranking (Rendle et al. 2009) for
      implicit feedback: for sampled triples (user, played item, unplayed
      item) it ascends ``log sigmoid(s_ui - s_uj)`` with
      ``s_ui = u_u . v_i + c_i``.

    Each epoch visits ``nnz(X)`` samples in a fresh random order (squared)
    or draws ``nnz(X)`` positive samples with ``n_negatives`` uniformly
    sampled negatives each (BPR).

    Rows passed to ``decision_function``, ``recommend`` and ``transform``
    are folded in with the item parameters fixed: for the squared loss the
    row's bias and factors minimise the same regularised squared error
    exactly (a ridge solve); for BPR they are trained by the same SGD on the
    row alone, for ``max_iter`` epochs, with a generator seeded from
    ``random_state`` and the row's content (so a row's result does not depend
    on the other rows). With the squared loss, ``user_factors_`` and
    ``user_bias_`` are this fold-in of the training rows, so ``transform``
    on the training matrix returns ``user_factors_``.

    Parameters
    ----------
    loss : {"bpr", "squared"}, default="bpr"
        The model and its loss, see above. BPR is the default because the
        documented input is implicit feedback (raw play counts): it only
        uses which entries are non-zero, so play counts need no weighting,
        and on lastfm-2k (per-user 80/20, NDCG@20,
        ``benchmarks/bench_defaults.py``) the defaults reach 0.230 on raw
        counts (popularity: 0.099). The squared loss is a ratings model: on
        raw play counts (up to hundreds of thousands) it diverges, and
        binarised (all stored values 1) it ranks worse than random (NDCG@20
        0.0007); use it for explicit ratings.
    n_components : int, default=64
        Number of latent factors.
    learning_rate : float, default=None
        Constant SGD step size. ``None`` means 0.05 for BPR and 0.01 for the
        squared loss.
    regularization : float, default=None
        L2 penalty applied at every update to the parameters updated
        (scaled per user and item with the squared loss, see
        ``regularization_exponent``). ``None`` means 0.01 for BPR and 0.02
        for the squared loss.
    regularization_exponent : float, default=1.0
        Squared loss only: the per-update penalty of a user (item) with
        ``n`` ratings is ``regularization * n ** (regularization_exponent -
        1)``, i.e. its total penalty per epoch grows as ``n **
        regularization_exponent``. ``1.0`` is the classic constant penalty;
        ``0.5`` with a larger ``regularization`` (about 1.2) was better on
        MovieLens-100K (``benchmarks/bench_mf_explicit.py``). The fold-in
        ridge solve uses the same weighting.
    bias_regularization : float, default=None
        Squared loss only: the penalty of the user and item biases, in place
        of ``regularization`` (scaled the same way). ``None`` means the same
        as ``regularization``. BPR penalises its item biases with
        ``regularization``.
    max_iter : int, default=None
        Number of epochs (and, for BPR, of fold-in epochs per row). ``None``
        means 100 for BPR and 20 for the squared loss. BPR's defaults (0.05,
        0.01, 100) were chosen on lastfm-2k: its former defaults (0.01,
        0.02, 20 epochs) ranked like popularity there (NDCG@20 0.102).
    n_negatives : int, default=1
        BPR only: negative items sampled per positive sample.
    init_std : float, default=0.1
        Standard deviation of the normal initial factors (biases start at
        zero).
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation, the sample order and the negative
        sampling. Training runs on one thread, so the same seed gives the
        same model everywhere.
    n_jobs : int, default=None
        CPU threads for fold-in and scoring (``decision_function``,
        ``recommend``, ``transform``). ``None`` means 1 unless in a
        ``joblib.parallel_config`` context, ``-1`` means all cores. Results
        do not depend on it.
    verbose : int, default=0
        Print the training loss (squared: RMSE; BPR: fraction of sampled
        pairs ranked correctly) and time of every epoch to stdout (and log
        them at INFO level, logger ``sklearn_musicrec.decomposition._sgd``).

    Attributes
    ----------
    user_factors_ : ndarray of float32 of shape (n_users, n_components)
        Factors of the training rows.
    item_factors_ : ndarray of float32 of shape (n_items, n_components)
        Factors of the items.
    user_bias_ : ndarray of float32 of shape (n_users,) or None
        User biases (squared loss).
    item_bias_ : ndarray of float32 of shape (n_items,)
        Item biases.
    global_mean_ : float
        Mean stored rating (squared loss; 0.0 for BPR).
    rating_range_ : tuple of (float, float) or None
        Lowest and highest rating seen in ``fit`` (squared loss; None for
        BPR). :meth:`predict_ratings` clips to it by default.
    seed_ : int
        Seed drawn from ``random_state`` for BPR fold-in.
    loss_curve_ : list of float
        Per-epoch training RMSE (squared) or fraction of correctly ranked
        sampled pairs (BPR), measured during the epoch.
    n_iter_ : int
        Number of epochs run.
    n_features_in_ : int
        Number of items seen in ``fit``.
    item_counts_ : ndarray of int64 of shape (n_items,)
        Number of users with a non-zero entry for each item.

    See Also
    --------
    ALSFactorizer : Matrix factorisation by alternating least squares.

    References
    ----------
    Y. Koren, R. Bell and C. Volinsky, "Matrix Factorization Techniques for
    Recommender Systems", IEEE Computer 42(8), 2009.

    S. Rendle, C. Freudenthaler, Z. Gantner and L. Schmidt-Thieme, "BPR:
    Bayesian Personalized Ranking from Implicit Feedback", UAI 2009.

    Examples
    --------
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.decomposition import SGDFactorizer
    >>> X = make_interactions(n_users=60, n_items=40, random_state=0).data
    >>> model = SGDFactorizer(loss="bpr", n_components=8, random_state=0).fit(X)
    >>> model.item_factors_.shape
    (40, 8)
    >>> ids, scores = model.recommend(X[:2], k=3)
    >>> ids.shape
    (2, 3)
    """

    _parameter_constraints = {
        "loss": [StrOptions({"squared", "bpr"})],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), None],
        "regularization": [Interval(Real, 0, None, closed="left"), None],
        "regularization_exponent": [Interval(Real, 0, None, closed="left")],
        "bias_regularization": [Interval(Real, 0, None, closed="left"), None],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "n_negatives": [Interval(Integral, 1, None, closed="left")],
        "init_std": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        loss="bpr",
        n_components=64,
        learning_rate=None,
        regularization=None,
        regularization_exponent=1.0,
        bias_regularization=None,
        max_iter=None,
        n_negatives=1,
        init_std=0.1,
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.loss = loss
        self.n_components = n_components
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.regularization_exponent = regularization_exponent
        self.bias_regularization = bias_regularization
        self.max_iter = max_iter
        self.n_negatives = n_negatives
        self.init_std = init_std
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: MatrixLike, y: None = None) -> Self:
        """Learn the factors and biases from ``X`` by SGD.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Ratings (squared loss; zeros mean "not rated") or non-negative
            implicit feedback (BPR; any non-zero entry is a positive).
        y : None
            Ignored.

        Returns
        -------
        self : SGDFactorizer
            The fitted model.
        """
        X = self._validate_fit_data(X)
        rng = check_random_state(self.random_state)
        R = _as_float32_csr(X)
        n_users, n_items = R.shape
        k = self.n_components
        P = rng.normal(scale=self.init_std, size=(n_users, k)).astype(np.float32)
        Q = rng.normal(scale=self.init_std, size=(n_items, k)).astype(np.float32)
        bu = np.zeros(n_users, dtype=np.float32)
        bi = np.zeros(n_items, dtype=np.float32)
        self.seed_ = int(rng.randint(0, 2**31 - 1))
        squared = self.loss == "squared"
        mean = float(R.data.mean()) if squared else 0.0
        settings = SGDSettings(
            whom=type(self).__name__,
            squared=squared,
            learning_rate=self._learning_rate(),
            max_iter=self._max_iter(),
            mean=mean,
            reg=self._regularization(),
            n_negatives=int(self.n_negatives),
            verbose=self.verbose,
        )
        if squared:
            user_counts = np.diff(R.indptr)
            item_counts = np.bincount(R.indices, minlength=n_items)
            reg, reg_bias = self._regularization(), self._bias_regularization()
            settings = replace(
                settings,
                reg_u=self._per_update_penalty(user_counts, reg),
                reg_i=self._per_update_penalty(item_counts, reg),
                reg_bu=self._per_update_penalty(user_counts, reg_bias),
                reg_bi=self._per_update_penalty(item_counts, reg_bias),
            )
        self.loss_curve_ = fit_sgd(R, P, Q, bu, bi, rng, settings)
        self.n_iter_ = self._max_iter()
        self.item_factors_ = Q
        self.item_bias_ = bi
        self.global_mean_ = mean
        if squared:
            U, ub = self._fold_in(R)
            self.user_factors_ = U
            self.user_bias_ = ub - np.float32(mean)
        else:
            self.user_factors_ = P
            self.user_bias_ = None
        return self

    # the defaults of the parameters left at None, per loss (see the docstring)
    _AUTO = {
        "squared": {"learning_rate": 0.01, "regularization": 0.02, "max_iter": 20},
        "bpr": {"learning_rate": 0.05, "regularization": 0.01, "max_iter": 100},
    }

    def _resolved(self, name):
        value = getattr(self, name)
        return self._AUTO[self.loss][name] if value is None else value

    def _learning_rate(self):
        return float(self._resolved("learning_rate"))

    def _regularization(self):
        return float(self._resolved("regularization"))

    def _max_iter(self):
        return int(self._resolved("max_iter"))

    def _per_update_penalty(self, counts, strength):
        """float32 ``strength * n ** (exponent - 1)`` (``n >= 1``)."""
        counts = np.maximum(counts, 1).astype(np.float64)
        penalty = strength * counts ** (float(self.regularization_exponent) - 1.0)
        return penalty.astype(np.float32)

    def _fold_in(self, X):
        if self.loss == "squared":
            return self._ridge_fold_in(
                X,
                self._regularization(),
                float(self.regularization_exponent),
                self._bias_regularization(),
            )
        from . import _sgd_cpu

        R = _as_float32_csr(X)
        U = np.zeros((R.shape[0], self.item_factors_.shape[1]), dtype=np.float32)
        with numba_threads(self.n_jobs, blas="single", n_rows=R.shape[0]):
            _sgd_cpu.bpr_fold_in(
                R.indptr,
                R.indices,
                R.shape[1],
                as_dense(self.item_factors_),  # (a temporary copy when quantised)
                self.item_bias_,
                self._learning_rate(),
                self._regularization(),
                self._max_iter(),
                int(self.n_negatives),
                self.seed_,
                U,
            )
        return U, None

    def _item_term(self):
        return self.item_bias_

    def _predicts_ratings(self):
        return self.loss == "squared"

    def _rating_setting_hint(self):
        return 'loss="squared" makes it a rating model'
