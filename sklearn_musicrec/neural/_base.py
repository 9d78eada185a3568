"""Shared machinery of the neural recommenders.

The estimator shells (:class:`DeepCFRecommender`, :class:`MultVAERecommender`)
derive from :class:`_NeuralRecommender`, which owns what both need: the input
scaling, the split of validation users for early stopping, the skorch
``NeuralNet`` (built, seeded and run on the resolved device under a fixed
number of torch threads), batched full-catalogue scoring with an on-device
top-k, pickling through a host (CPU) copy of the weights, and the post-fit
compression of the item-side layers (``quantize``, through
``utils/_quantize.QuantizeMixin``; the quantised layers are in
``neural/_quantized.py``).

Nothing here imports torch at module level: it is imported in ``fit`` and in
the scoring methods.
"""

import io
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.utils import gen_batches

from ..base import BaseRecommender
from ..utils._devices import import_torch, resolve_device, torch_num_threads
from ..utils._parallel import numba_threads
from ..utils._quantize import QuantizeMixin
from ..utils._sklearn_compat import _openmp_effective_n_threads, get_chunk_n_rows
from ..utils._sparse import clean_csr_copy

__all__ = []

# ranking depth of the validation NDCG that early stopping monitors
_VALID_K = 20
# share of each validation user's history hidden for the validation NDCG
_VALID_HOLDOUT = 0.2
# below this many item-side weights (n_items x widest layer), torch runs on one
# thread: thread synchronisation costs more than it saves on small models
_PARALLEL_MIN_WEIGHTS = 1 << 20


class DeviceWarning(UserWarning):
    """A model fitted on CUDA was unpickled where CUDA is absent (moved to CPU)."""


def scale_input(X, binarize):
    """A clean float32 CSR copy of ``X``, binarised at threshold ``binarize`` unless None."""
    X = clean_csr_copy(X, np.float32)
    if binarize is not None:
        X.data = (X.data > binarize).astype(np.float32)
        X.eliminate_zeros()
    return X


def csr_batch_tensor(torch, X, device=None, *, normalize=True):
    """A torch sparse CSR tensor of the rows of scipy CSR ``X``.

    With ``normalize``, the weights of each row are divided by the row's
    Euclidean norm (Liang et al. 2018's input normalisation; for 0/1 rows
    ``1 / sqrt(n)``), so that long and short histories give inputs of the
    same scale.
    """
    data = l2_normalized_values(X) if normalize else X.data.astype(np.float32, copy=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        return torch.sparse_csr_tensor(
            torch.as_tensor(X.indptr.astype(np.int64)),
            torch.as_tensor(X.indices.astype(np.int64)),
            torch.as_tensor(data),
            size=X.shape,
            check_invariants=False,
        ).to(device if device is not None else "cpu")


def l2_normalized_values(X, scale=1.0):
    """float32 copy of CSR ``X.data``, each row divided by its Euclidean norm times ``scale``.

    Rows of norm zero are divided by ``scale`` alone. (``scale`` is 1 for
    scoring; DeepCF's training histories use ``1 - target_fraction``.)
    """
    data = X.data.astype(np.float32, copy=True)
    if data.size:
        owner = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        norms = np.sqrt(np.bincount(owner, weights=data * data, minlength=X.shape[0]))
        norms[norms == 0] = 1.0
        data /= norms[owner].astype(np.float32) * np.float32(scale)
    return data


def bag_inputs(history):
    """``(input, offsets, per_sample_weights)`` of ``nn.EmbeddingBag`` from a CSR tensor."""
    crow = history.crow_indices()
    return history.col_indices(), crow[:-1], history.values()


class _NeuralRecommender(QuantizeMixin, BaseRecommender):
    """Base of the neural recommenders: fit loop, scoring, pickling.

    Subclasses implement:

    - ``_module(torch)``: the ``nn.Module`` class and ``_module_kwargs(X)``,
    - ``_criterion(torch)``: the loss class (gets the module output),
    - ``_training_data(X)``: ``(dataset, collate_fn)`` over the training rows,
    - ``_score_row_bytes(n_items)``: bytes of working memory per scored row,
    - ``_quantized_layers(module)``: the names of the item-side layers that
      :meth:`quantize` compresses.
    - optionally ``_optimizer_kwargs(torch)``: extra arguments of Adam (fused
      Adam by default).

    The module implements ``scoring_items()`` (what scoring needs of the
    items, computed once per scoring call) and ``score(history, items)`` (a
    CSR tensor batch of rows -> dense logits over all items).
    """

    # -- fit -------------------------------------------------------------
    def _n_threads(self):
        """torch threads: the OpenMP limit in effect (threadpoolctl), 1 for small models."""
        widths = [self.n_components, *self.hidden_layer_sizes]
        if self.n_features_in_ * max(widths) < _PARALLEL_MIN_WEIGHTS:
            return 1
        return _openmp_effective_n_threads()

    def _split_validation(self, X, rng):
        """``(X_train, X_fold_in, X_heldout)``: training rows and validation users."""
        if not self.early_stopping:
            return X, None, None
        from ..model_selection import holdout_split

        n_users = X.shape[0]
        n_valid = int(np.ceil(self.validation_fraction * n_users))
        if n_valid < 1 or n_valid >= n_users:
            raise ValueError(
                f"{type(self).__name__}: validation_fraction={self.validation_fraction} "
                f"leaves {n_users - n_valid} training and {n_valid} validation users of "
                f"{n_users}; early_stopping needs at least one of each."
            )
        perm = rng.permutation(n_users)
        valid, train = np.sort(perm[:n_valid]), np.sort(perm[n_valid:])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # users too short to split
            fold_in, heldout = holdout_split(
                X[valid], _VALID_HOLDOUT, random_state=rng.randint(2**31 - 1)
            )
        return X[train], sp.csr_matrix(fold_in), sp.csr_matrix(heldout)

    def _criterion_kwargs(self, X_train):
        return {}

    def _optimizer_kwargs(self, torch):
        """Extra keyword arguments of the Adam optimiser.

        torch's fused Adam: one kernel over each parameter instead of a
        dozen elementwise passes; the update of the ``(n_items, width)``
        tables dominates a step on CPU (about 4x faster steps; the CPU
        kernel exists from torch 2.4 on).
        """
        if torch.torch_version.TorchVersion(torch.__version__) < (2, 4):
            return {}
        return {"fused": True}

    def _make_net(
        self,
        torch,
        device,
        module_kwargs,
        criterion_kwargs,
        *,
        collate=None,
        generator=None,
        valid=None,
    ):
        from skorch import NeuralNet

        callbacks = list(self.callbacks) if self.callbacks is not None else []
        if valid is not None:
            from skorch.callbacks import EarlyStopping

            callbacks = [
                ("valid_ndcg", _ValidationNDCG(self, *valid)),
                (
                    "early_stopping",
                    EarlyStopping(
                        monitor="valid_ndcg",
                        lower_is_better=False,
                        patience=self.n_iter_no_change,
                        threshold=0.0,
                        threshold_mode="abs",
                        load_best=True,
                        sink=print,
                    ),
                ),
                *callbacks,
            ]
        iterator = {}
        if collate is not None:
            iterator = dict(
                iterator_train__shuffle=True,
                iterator_train__collate_fn=collate,
                iterator_train__generator=generator,
            )
        return NeuralNet(
            module=self._module(torch),
            criterion=self._criterion(torch),
            optimizer=torch.optim.Adam,
            lr=self.lr,
            optimizer__weight_decay=self.weight_decay,
            **{f"optimizer__{key}": value for key, value in self._optimizer_kwargs(torch).items()},
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            device=device,
            train_split=None,
            callbacks=callbacks or None,
            verbose=self.verbose,
            **iterator,
            **{f"module__{key}": value for key, value in module_kwargs.items()},
            **{f"criterion__{key}": value for key, value in criterion_kwargs.items()},
        )

    def _fit_net(self, X, rng):
        """Build ``net_`` and train it on validated CSR ``X``; return ``self``."""
        name = type(self).__name__
        torch = import_torch(name)
        device = resolve_device(self.device, name)
        X_train, fold_in, heldout = self._split_validation(sp.csr_matrix(X), rng)
        X_train = self._scale(X_train)
        mixed_precision = self._resolve_mixed_precision(torch, device)
        seed, data_seed = (int(s) for s in rng.randint(2**31 - 1, size=2))
        n_threads = self._n_threads()
        # numba's threads too: DeepCF's compiled pair-MLP kernels run in training
        with torch_num_threads(n_threads), numba_threads(n_threads):
            module_kwargs = dict(self._module_kwargs(X_train), mixed_precision=mixed_precision)
            criterion_kwargs = self._criterion_kwargs(X_train)
            dataset, collate = self._training_data(X_train)
            generator = torch.Generator().manual_seed(data_seed)
            valid = None if fold_in is None else (fold_in, heldout)
            net = self._make_net(
                torch,
                device,
                module_kwargs,
                criterion_kwargs,
                collate=collate,
                generator=generator,
                valid=valid,
            )
            cuda = []
            if device.startswith("cuda"):
                index = torch.device(device).index
                cuda = [torch.cuda.current_device() if index is None else index]
            with torch.random.fork_rng(devices=cuda):
                torch.manual_seed(seed)
                net.fit(dataset, None)
            net.module_.eval()
            self._after_fit(net.module_)
        self.net_ = net
        self.device_ = device
        self.mixed_precision_ = mixed_precision
        self._module_kwargs_ = module_kwargs
        self._criterion_kwargs_ = criterion_kwargs
        self.n_epochs_ = len(net.history)
        return self

    def _resolve_mixed_precision(self, torch, device):
        """Whether the forward passes run under bfloat16 autocast on ``device``."""
        option = self.mixed_precision
        cuda = device.startswith("cuda")
        if option is True and not cuda:
            raise ValueError(
                f"{type(self).__name__}(mixed_precision=True) needs a CUDA device, but "
                f"the model runs on {device!r}; use mixed_precision='auto' (bfloat16 on "
                "CUDA only) or False on CPU."
            )
        if not cuda or option is False:
            return False
        if option == "auto":
            return bool(torch.cuda.is_bf16_supported())
        return True

    def _after_fit(self, module):
        """Hook: adjust the trained module (e.g. zero untrained rows)."""

    # -- scoring -----------------------------------------------------------
    def _score_row_bytes(self, n_items):
        return 8 * max(n_items, 1)

    def _score_batches(self, X, net=None):
        """Yield ``(batch slice, CSR batch, logits tensor on the device)``."""
        torch = import_torch(type(self).__name__)
        X = sp.csr_matrix(X)
        net = self.net_ if net is None else net
        module = net.module_
        device = net.device
        n_users, n_items = X.shape
        chunk = get_chunk_n_rows(row_bytes=self._score_row_bytes(n_items), max_n_rows=n_users)
        was_training = module.training
        module.eval()
        try:
            n_threads = self._n_threads()
            # (numpy's BLAS on the same threads: quantised layers multiply with it)
            threads = numba_threads(n_threads, blas="same")
            with torch.no_grad(), torch_num_threads(n_threads), threads:
                items = module.scoring_items()  # the item side, once per call
                for batch in gen_batches(n_users, max(chunk, 1)):
                    Xb = self._scale(X[batch])
                    yield batch, Xb, module.score(csr_batch_tensor(torch, Xb, device), items)
        finally:
            module.train(was_training)

    def _scale(self, X):
        return scale_input(X, self.binarize)

    def _decision_function(self, X):
        out = np.empty(X.shape, dtype=np.float32)
        for batch, _, logits in self._score_batches(X):
            out[batch] = logits.float().cpu().numpy()
        return out

    def _top_k(self, X, k, exclude_seen, net=None):
        """On-device top-``k`` of every row of ``X`` (its own non-zeros excluded)."""
        torch = import_torch(type(self).__name__)
        n_users, n_items = X.shape
        ids = np.full((n_users, k), -1, dtype=np.int64)
        scores = np.full((n_users, k), -np.inf, dtype=np.float32)
        kk = min(k, n_items)
        X = sp.csr_matrix(X)
        for batch, _, logits in self._score_batches(X, net):
            logits = logits.float()
            if exclude_seen:
                Xb = X[batch]
                rows = np.repeat(np.arange(Xb.shape[0]), np.diff(Xb.indptr))
                nz = Xb.data != 0
                logits[
                    torch.as_tensor(rows[nz], device=logits.device),
                    torch.as_tensor(Xb.indices[nz].astype(np.int64), device=logits.device),
                ] = -torch.inf
            values, top = torch.topk(logits, kk, dim=1)
            values, top = values.cpu().numpy(), top.cpu().numpy()
            top[np.isneginf(values)] = -1
            ids[batch, :kk] = top
            scores[batch, :kk] = values
        return ids, scores

    def _recommend_unrestricted(self, X, k, exclude_seen):
        return self._top_k(X, k, exclude_seen)

    # -- compression (QuantizeMixin) ------------------------------------------
    def _quantized_layers(self, module):
        """Names of the item-side layers of ``module`` that ``quantize`` compresses."""
        raise NotImplementedError

    def _quantizable_arrays(self):
        from ._quantized import quantized_weight

        module = self.net_.module_
        return {
            path: quantized_weight(module.get_submodule(path))
            for path in self._quantized_layers(module)
        }

    def _store_quantized(self, name, value):
        from ._quantized import install_quantized

        install_quantized(self.net_.module_, name, value)

    def quantize(self, dtype="int8"):
        """Compress the item-side layers in place; the model keeps recommending with them.

        Like scikit-learn's ``sparsify()``, a post-fit step. The layers whose
        size grows with the catalogue are replaced by inference-only layers
        holding ``"float16"`` values or ``"int8"`` codes with one float32
        scale per item (or feature) row; the float32 weights are gone from
        the model, its memory and its pickle. Mult-VAE: the encoder's first
        layer (an embedding bag over the history's items) and the decoder's
        output layer; DeepCF: the input and output item embeddings and,
        with ``item_features``, the feature embeddings. Scoring dequantises
        only what it reads: the rows of the items in a batch of histories,
        Mult-VAE's output layer one block of items at a time, and DeepCF's
        output item vectors once per scoring call (a temporary float32
        copy, from which the item half of the MLP is computed for the fused
        CPU kernel, as for the float model). The small user-side layers and
        the biases stay float32; on a CUDA model the quantised layers
        compute on the host and move their results to the device.

        A quantised model is inference-only: the optimiser's state (Adam's
        two moments per parameter) and early stopping's copy of the best
        weights are dropped, and ``net_.partial_fit`` raises. Fitting again
        trains a new float32 model (``quantized_dtype_`` is then ``None``).

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

        Examples
        --------
        >>> import pickle
        >>> from sklearn_musicrec.datasets import make_interactions
        >>> from sklearn_musicrec.neural import MultVAERecommender
        >>> X = make_interactions(n_users=60, n_items=400, random_state=0).data
        >>> model = MultVAERecommender(n_components=8, hidden_layer_sizes=(32,),
        ...                            max_epochs=2, random_state=0).fit(X)
        >>> size = len(pickle.dumps(model))
        >>> model.quantize("int8").quantized_dtype_
        'int8'
        >>> bool(len(pickle.dumps(model)) < size / 2)
        True
        >>> model.recommend(X[:2], k=3)[0].shape
        (2, 3)
        """
        super().quantize(dtype)
        _drop_training_state(self.net_)
        return self

    # -- pickling ------------------------------------------------------------
    def __getstate__(self):
        state = dict(super().__getstate__())  # object.__getstate__ is __dict__ itself
        net = state.pop("net_", None)
        if net is not None:
            torch = import_torch(type(self).__name__)
            host = {key: value.detach().cpu() for key, value in net.module_.state_dict().items()}
            buffer = io.BytesIO()
            torch.save(host, buffer)
            state["_module_state"] = buffer.getvalue()
            from ._quantized import quantized_layers

            # quantised layers keep their arrays out of the state dict
            quantized = quantized_layers(net.module_)
            if quantized:
                state["_quantized_layers_state"] = quantized
        return state

    def __setstate__(self, state):
        payload = state.pop("_module_state", None)
        quantized = state.pop("_quantized_layers_state", None)
        super().__setstate__(state)
        if payload is None:
            return
        torch = import_torch(type(self).__name__)
        device = self.device_
        if device.startswith("cuda") and not torch.cuda.is_available():
            warnings.warn(
                f"{type(self).__name__} was fitted on {device!r} but PyTorch sees no "
                "CUDA device here: the model is loaded on the CPU.",
                DeviceWarning,
                stacklevel=2,
            )
            device = "cpu"
        weights = torch.load(io.BytesIO(payload), map_location=device, weights_only=True)
        with torch_num_threads(self._n_threads()):
            net = self._make_net(torch, device, self._module_kwargs_, self._criterion_kwargs_)
            net.initialize()
        if quantized:
            from ._quantized import install_quantized

            for path, value in quantized.items():
                install_quantized(net.module_, path, value)
            _drop_training_state(net)
        net.module_.load_state_dict(weights)
        net.module_.eval()
        self.net_ = net


def _drop_training_state(net):
    """Forget what only training needs: the optimiser's state, early stopping's best weights.

    The optimiser is rebuilt over the module's remaining parameters (Adam
    keeps no state before its first step), so it no longer references the
    float weights that quantised layers replaced.
    """
    net.initialize_optimizer()
    for _, callback in getattr(net, "callbacks_", ()):
        if getattr(callback, "best_model_weights_", None) is not None:
            callback.best_model_weights_ = None


class _ValidationNDCG:
    """skorch callback: NDCG@20 of validation users, recorded as ``valid_ndcg``.

    The fold-in part of each validation user's row is scored by the current
    module; the held-out part is the truth. It subclasses skorch's
    ``Callback`` lazily (skorch imports torch).
    """

    def __new__(cls, estimator, fold_in, heldout):
        from skorch.callbacks import Callback

        class ValidationNDCG(Callback):
            def __init__(self, estimator, fold_in, heldout):
                self.estimator = estimator
                self.fold_in = fold_in
                self.heldout = heldout

            def on_epoch_end(self, net, **kwargs):
                from ..metrics import ndcg_at_k

                ids, _ = self.estimator._top_k(self.fold_in, _VALID_K, True, net=net)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # users with no held-out item
                    value = float(ndcg_at_k(self.heldout, ids, k=_VALID_K))
                net.history.record("valid_ndcg", value)

        return ValidationNDCG(estimator, fold_in, heldout)
