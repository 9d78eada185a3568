"""PyTorch modules, losses and training data of the neural recommenders.

This module imports torch: the estimator shells import it inside ``fit``.
Every module reads a batch of users as a sparse CSR tensor of their
(L2-normalised) history rows and turns it into a dense vector with an
``nn.EmbeddingBag``: no users x items matrix is ever densified on the input
side.
"""

import contextlib

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn import functional as F

from ._base import bag_inputs, csr_batch_tensor, l2_normalized_values

__all__ = []


# largest (users, items, width) activation block of full-catalogue scoring
# through torch (a deeper MLP, or CUDA)
_PAIR_BLOCK_ELEMENTS = 1 << 24
# largest (rows, items) boolean table that marks a training batch's seen items
# (16 MiB); larger batches look their items up in sorted keys instead
_DENSE_SEEN_ELEMENTS = 1 << 24


def _autocast(enabled, tensor):
    """bfloat16 autocast of the forward pass when ``enabled`` and ``tensor`` is on CUDA."""
    if enabled and tensor.device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# --------------------------------------------------------------------------
# DeepCF (NeuMF-style, user tower over the history row)
# --------------------------------------------------------------------------
class DeepCFModule(nn.Module):
    """NeuMF with a history-based user tower and optional item-feature embeddings.

    The user vector is ``u = bag(history) + c``, where ``bag`` is the
    weighted sum of the input item embeddings of the (L2-normalised) history
    row. An item's vector is its learned embedding plus, when item features
    are given, the weighted sum of its features' embeddings. The logit of a
    (user, item) pair is the generalised-MF term ``<u, v>`` plus the MLP
    branch over ``[u, v]`` (its first layer is ``A u + B v + c``, split so
    that full-catalogue scoring computes ``A u`` once per user and ``B v``
    once per item) plus the item bias.
    """

    def __init__(
        self,
        n_items,
        n_components,
        hidden_layer_sizes,
        dropout,
        n_negatives,
        negative_weights,
        feature_indptr=None,
        feature_indices=None,
        feature_data=None,
        n_features=0,
        item_id_dropout=0.0,
        mixed_precision=False,
        negative_sharing="example",
    ):
        super().__init__()
        d = int(n_components)
        # "example": n_negatives items per training example; "batch": one set
        # of n_negatives items per batch, scored against every example
        self.negative_sharing = str(negative_sharing)
        self.mixed_precision = bool(mixed_precision)
        # full-catalogue scoring of a one-hidden-layer MLP on CPU: compiled kernel
        self.fused_cpu_kernel = True
        self.n_items = int(n_items)
        self.n_negatives = int(n_negatives)
        self.item_id_dropout = float(item_id_dropout)
        self.item_in = nn.EmbeddingBag(self.n_items, d, mode="sum")
        self.user_bias = nn.Parameter(torch.zeros(d))
        self.item_out = nn.Embedding(self.n_items, d)
        self.item_bias = nn.Embedding(self.n_items, 1)
        self.input_dropout = nn.Dropout(dropout)
        self.hidden_dropout = nn.Dropout(dropout)
        sizes = [int(h) for h in hidden_layer_sizes]
        if sizes:
            self.mlp_user = nn.Linear(d, sizes[0])
            self.mlp_item = nn.Linear(d, sizes[0], bias=False)
            self.mlp_layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
            self.mlp_out = nn.Linear(sizes[-1], 1, bias=False)
            # the MLP's output starts at zero: training starts from the
            # generalised-MF model and the MLP learns what it adds
            nn.init.zeros_(self.mlp_out.weight)
        else:
            self.mlp_user = None
        # Xavier (Glorot) initialisation of the (n_items, d) tables, as
        # Mult-VAE's; N(0, 0.1) embeddings over-fit lastfm-2k's rare items
        nn.init.xavier_uniform_(self.item_in.weight)
        nn.init.xavier_uniform_(self.item_out.weight)
        nn.init.zeros_(self.item_bias.weight)
        self.register_buffer(
            "negative_weights", torch.as_tensor(negative_weights, dtype=torch.float32), False
        )
        # uniform sampling over the items with weight: randint, no multinomial
        weights = np.asarray(negative_weights)
        positive = weights[weights > 0]
        self.uniform = bool(positive.size and np.allclose(positive, positive[0]))
        self.register_buffer(
            "sample_items", torch.as_tensor(np.flatnonzero(weights > 0), dtype=torch.int64), False
        )
        self.n_features = int(n_features)
        if self.n_features:
            self.feature_bag = nn.EmbeddingBag(self.n_features, d + 1, mode="sum")
            nn.init.xavier_uniform_(self.feature_bag.weight)
            self.register_buffer(
                "feature_indices", torch.as_tensor(feature_indices, dtype=torch.int64), False
            )
            self.register_buffer(
                "feature_offsets", torch.as_tensor(feature_indptr[:-1], dtype=torch.int64), False
            )
            self.register_buffer(
                "feature_data", torch.as_tensor(feature_data, dtype=torch.float32), False
            )

    # -- towers ------------------------------------------------------------
    def user_vectors(self, history):
        items, offsets, weights = bag_inputs(history)
        bag = self.item_in(items, offsets, per_sample_weights=self.input_dropout(weights))
        return bag + self.user_bias

    def _feature_part(self):
        """``(n_items, d + 1)``: every item's feature embedding and feature bias."""
        return self.feature_bag(
            self.feature_indices, self.feature_offsets, per_sample_weights=self.feature_data
        )

    def item_vectors(self, ids=None):
        """Vectors ``(..., d)`` and biases ``(...)`` of items ``ids`` (all if None)."""
        v, b, _ = self._item_side(ids, with_mlp=False)
        return v, b

    def _all_items(self):
        """Vectors ``(n_items, d)`` and biases ``(n_items,)`` of every item."""
        v, b = self.item_out.weight, self.item_bias.weight[:, 0]
        if self.n_features:
            part = self._feature_part()
            v, b = v + part[:, :-1], b + part[:, -1]
        return v, b

    def _item_side(self, ids=None, *, with_mlp=True):
        """Vectors, biases and MLP item halves ``B v`` of items ``ids`` (all if None).

        The item half is ``None`` without an MLP branch (or ``with_mlp``
        false). For many ids (more than there are items) ``B v`` is computed
        once for every item and gathered, instead of once per id: ``B`` is
        linear, so the two are the same, and with item features the item-id
        dropout (one draw per id) commutes with it.
        """
        mlp = with_mlp and self.mlp_user is not None
        if ids is None:  # every item: B v of the whole vectors (scoring)
            v, b = self._all_items()
            return v, b, (self.mlp_item(v) if mlp else None)
        m = None
        if mlp and ids.numel() > self.n_items:
            table = torch.cat([self.item_out.weight, self.item_bias.weight], dim=1)
            vb = F.embedding(ids, table)
            v, b = vb[..., :-1], vb[..., -1]
            m = F.embedding(ids, self.mlp_item(self.item_out.weight))
        else:
            v, b = self.item_out(ids), self.item_bias(ids)[..., 0]
        if self.n_features:
            if self.training and self.item_id_dropout > 0:
                keep = torch.rand(v.shape[:-1], device=v.device) >= self.item_id_dropout
                v = v * keep.unsqueeze(-1)
                b = b * keep
                if m is not None:
                    m = m * keep.unsqueeze(-1)
            part = self._feature_part()
            if m is not None:
                m = m + F.embedding(ids, self.mlp_item(part[:, :-1]))
            part = part.index_select(0, ids.reshape(-1)).view(*ids.shape, part.shape[-1])
            v = v + part[..., :-1]
            b = b + part[..., -1]
        if mlp and m is None:
            m = self.mlp_item(v)
        return v, b, m

    def _mlp(self, h):
        for layer in self.mlp_layers:
            h = F.relu(layer(self.hidden_dropout(h)))
        return self.mlp_out(self.hidden_dropout(h))[..., 0]

    # -- training ----------------------------------------------------------
    def _sample(self, n):
        """``n`` items drawn with replacement from the negative distribution."""
        device = self.sample_items.device
        if self.uniform:
            return self.sample_items[torch.randint(self.sample_items.numel(), (n,), device=device)]
        return torch.multinomial(self.negative_weights, n, replacement=True)

    def _shared_negatives(self):
        """The batch's shared negatives and the weight of each (a float).

        ``n_negatives`` uniform draws with replacement, weight 1; or, when
        sampling is uniform and ``n_negatives`` is at least the number of
        items that can be drawn (a small catalogue), every such item once,
        weighing ``n_negatives / n_items``: the expected number of times a
        draw would hold it, so the expected loss is the same, without the
        sampling noise and with fewer pairs to score.
        """
        n = self.sample_items.numel()
        if self.uniform and self.n_negatives >= n:
            return self.sample_items, self.n_negatives / n
        return self._sample(self.n_negatives), 1.0

    def _negatives(self, history, targets):
        """Sampled items and whether each is really unseen by its example's user.

        ``negative_sharing="example"``: items ``(B, n_negatives)``, one set
        per example; ``"batch"``: items ``(n_negatives,)`` shared by the
        batch. The mask ``(B, n_negatives)`` is false where the item is the
        example's target or in its history (:meth:`_unseen`).
        """
        n_batch = targets.shape[0]
        weight = 1.0
        if self.negative_sharing == "batch":
            negatives, weight = self._shared_negatives()
            per_row = negatives[None, :].expand(n_batch, -1)
        else:
            negatives = self._sample(n_batch * self.n_negatives).view(n_batch, self.n_negatives)
            per_row = negatives
        rows = torch.arange(n_batch, device=targets.device)
        return negatives, self._unseen(history, targets, rows, rows, per_row, weight)

    def _unseen(self, history, targets, target_rows, owner, items, weight):
        """Whether ``items[r, j]`` is neither in the history nor a target of row ``owner[r]``.

        ``targets[t]`` is a target of row ``target_rows[t]``. For a batch of
        at most ``_DENSE_SEEN_ELEMENTS`` (rows x items), the rows' items are
        marked in a dense ``(rows, n_items)`` boolean table and membership
        is one gather; for larger ones, rows' items are keyed ``row *
        n_items + item`` and membership is one ``searchsorted`` in the
        sorted keys. With ``weight`` other than 1 the mask is a float tensor
        of ``weight`` where true (see :meth:`_shared_negatives`).
        """
        crow = history.crow_indices()
        n_rows = history.shape[0]
        rows = torch.repeat_interleave(
            torch.arange(n_rows, device=targets.device), crow[1:] - crow[:-1]
        )
        if n_rows * self.n_items <= _DENSE_SEEN_ELEMENTS:
            seen = torch.zeros(n_rows, self.n_items, dtype=torch.bool, device=targets.device)
            seen[rows, history.col_indices()] = True
            seen[target_rows, targets] = True
            unseen = ~seen[owner[:, None], items]
        else:
            keys = torch.cat(
                [rows * self.n_items + history.col_indices(), target_rows * self.n_items + targets]
            ).sort()[0]
            wanted = owner[:, None] * self.n_items + items
            pos = torch.searchsorted(keys, wanted).clamp_(max=max(keys.numel() - 1, 0))
            unseen = (
                keys[pos] != wanted if keys.numel() else torch.ones_like(wanted, dtype=torch.bool)
            )
        return unseen if weight == 1.0 else unseen * weight

    def _pair_logits(self, u, a, v, b, m):
        """Logits of users ``u`` (B, d) against items ``v`` (B, n, d) or shared (n, d)."""
        if v.dim() == 2:  # shared items: one (B x n) product
            logits = torch.addmm(b[None, :], u, v.T)
        else:
            logits = torch.einsum("bd,bnd->bn", u, v) + b
        if m is not None:
            if m.dim() == 2 and self._fused_pairs(a):
                # every user against every shared item: the compiled kernel
                # (forward and backward) never materialises (B, n, width)
                return logits + _PairReluDot.apply(a, m, self.mlp_out.weight[0])
            h = F.relu(a[:, None, :] + (m[None] if m.dim() == 2 else m))
            logits = logits + self._mlp(h)
        return logits

    def _fused_pairs(self, a):
        """Whether the compiled CPU kernel computes the MLP over all (user, item) pairs."""
        return (
            self.fused_cpu_kernel
            and not self.mlp_layers
            and a.device.type == "cpu"
            and a.dtype == torch.float32
            and (self.hidden_dropout.p == 0 or not self.training)
        )

    def forward(self, history, targets):
        """Logits of the targets and of sampled negatives, and the negatives' mask.

        Per interaction (``targets`` a ``(B,)`` tensor of items, one per
        history row): ``(logits (B, 1 + n_negatives), mask)``, column 0 the
        targets. Per user (``targets`` a sparse CSR tensor ``(B, n_items)``
        of each row's targets, several per row): ``(target logits (P,),
        negative logits, mask)``, the negatives shared by the batch
        (``negative_sharing="batch"``, ``(B, n_negatives)``) or drawn per
        target (``(P, n_negatives)``).
        """
        if targets.layout == torch.sparse_csr:
            crow = targets.crow_indices()
            rows = torch.repeat_interleave(
                torch.arange(targets.shape[0], device=crow.device), crow[1:] - crow[:-1]
            )
            return self._forward_users(history, targets.col_indices(), rows)
        negatives, unseen = self._negatives(history, targets)
        mask = torch.cat([torch.ones_like(unseen[:, :1]), unseen], dim=1)
        with _autocast(self.mixed_precision, targets):
            u = self.user_vectors(history)
            a = self.mlp_user(u) if self.mlp_user is not None else None
            if self.negative_sharing == "batch":
                positive = self._pair_logits(u, a, *self._item_side(targets[:, None]))
                negative = self._pair_logits(u, a, *self._item_side(negatives))
                logits = torch.cat([positive, negative], dim=1)
            else:
                items = torch.cat([targets[:, None], negatives], dim=1)
                logits = self._pair_logits(u, a, *self._item_side(items))
        return logits.float(), mask

    def _forward_users(self, history, targets, target_rows):
        n_rows = history.shape[0]
        weight = 1.0
        if self.negative_sharing == "batch":
            negatives, weight = self._shared_negatives()
            per = negatives[None, :].expand(n_rows, -1)
            owner = torch.arange(n_rows, device=targets.device)
        else:  # n_negatives per target, scored against the target's row
            negatives = self._sample(targets.numel() * self.n_negatives)
            per = negatives.view(-1, self.n_negatives)
            owner = target_rows
        # a negative must be neither in the row's history nor one of its targets
        unseen = self._unseen(history, targets, target_rows, owner, per, weight)
        with _autocast(self.mixed_precision, targets):
            u = self.user_vectors(history)
            a = self.mlp_user(u) if self.mlp_user is not None else None
            # index_select, not u[target_rows]: the backward of advanced
            # indexing sums a row's many targets in an order that varies
            # from process to process (rounding differences that grow over
            # the epochs); index_select's backward sums them in index order
            ut = u.index_select(0, target_rows)
            at = None if a is None else a.index_select(0, target_rows)
            positive = self._pair_logits(ut, at, *self._item_side(targets[:, None]))[:, 0]
            if self.negative_sharing == "batch":
                negative = self._pair_logits(u, a, *self._item_side(negatives))
            else:
                negative = self._pair_logits(ut, at, *self._item_side(per))
        return positive.float(), negative.float(), unseen

    # -- scoring -----------------------------------------------------------
    def scoring_items(self):
        """What full-catalogue scoring needs of the items, computed once per call.

        Returns ``(v, b, B)``: the item vectors ``(n_items, d)`` (learned
        embedding plus the feature part), the item biases ``(n_items,)`` and
        the item half ``B v`` of the MLP's first layer ``(n_items, width)``
        (None without an MLP branch). :meth:`score` takes it, so that a
        scoring call over many user batches computes the item side once.
        """
        v, b = self._all_items()
        with _autocast(self.mixed_precision, b):
            mlp = self.mlp_item(v) if self.mlp_user is not None else None
        return v, b, mlp

    def score(self, history, items=None):
        """Logits ``(B, n_items)`` of every item for a batch of history rows.

        ``items`` is :meth:`scoring_items`'s result (computed here if None).
        """
        v, b, mlp_item = self.scoring_items() if items is None else items
        with _autocast(self.mixed_precision, b):
            u = self.user_vectors(history)
            logits = torch.addmm(b[None, :], u, v.T).float()
            if mlp_item is not None:
                self._add_pair_mlp(logits, self.mlp_user(u), mlp_item)
        return logits

    def _add_pair_mlp(self, logits, mlp_user, mlp_item):
        """``logits += MLP(relu(A_u + B_v))`` for every (user, item) pair, in place."""
        if (
            self.fused_cpu_kernel
            and not torch.is_grad_enabled()
            and not self.mlp_layers
            and logits.device.type == "cpu"
            and logits.dtype == torch.float32
        ):
            # fused add-ReLU-dot kernel: no (users, items, width) activations
            from ._pair_mlp_numba import add_relu_dot

            add_relu_dot(
                mlp_user.contiguous().numpy(),
                mlp_item.contiguous().numpy(),
                self.mlp_out.weight[0].detach().contiguous().numpy(),
                logits.numpy(),
            )
            return
        # item blocks bound the (users, block, width) activations
        width = mlp_item.shape[1]
        step = max(1, _PAIR_BLOCK_ELEMENTS // max(logits.shape[0] * width, 1))
        for start in range(0, mlp_item.shape[0], step):
            h = F.relu(mlp_user[:, None, :] + mlp_item[None, start : start + step, :])
            logits[:, start : start + step] += self._mlp(h)


class _PairReluDot(torch.autograd.Function):
    """``L[u, i] = sum_h w[h] relu(A[u, h] + B[i, h])`` with compiled forward and backward.

    The one-hidden-layer MLP branch of DeepCF over every (user, item) pair
    of a batch with shared negatives: torch would materialise the
    ``(users, items, width)`` activations and their gradient (several
    passes over them); the numba kernels of ``_pair_mlp_numba`` recompute
    ``A[u] + B[i]`` on the fly instead. Each output entry and each gradient
    entry is one fixed-order sum, so the result does not depend on the
    number of threads. CPU float32 only.
    """

    @staticmethod
    def forward(ctx, A, B, w):
        from ._pair_mlp_numba import add_relu_dot

        ctx.save_for_backward(A, B, w)
        out = torch.zeros(A.shape[0], B.shape[0], dtype=torch.float32)
        add_relu_dot(_numpy(A), _numpy(B), _numpy(w), out.numpy())
        return out

    @staticmethod
    def backward(ctx, grad):
        from ._pair_mlp_numba import relu_dot_grad_rows

        A, B, w = (_numpy(t) for t in ctx.saved_tensors)
        G = _numpy(grad)
        gA = np.empty_like(A)
        gw = np.empty_like(A)
        gB = np.empty_like(B)
        relu_dot_grad_rows(A, B, w, G, gA, gw)
        # the item half: the same kernel with the halves swapped
        relu_dot_grad_rows(B, A, w, np.ascontiguousarray(G.T), gB, None)
        return torch.from_numpy(gA), torch.from_numpy(gB), torch.from_numpy(gw.sum(axis=0))


def _numpy(t):
    """A C-contiguous float32 numpy view (or copy) of CPU tensor ``t``."""
    return np.ascontiguousarray(t.detach().numpy(), dtype=np.float32)


class DeepCFLoss(nn.Module):
    """Binary cross-entropy with logits: targets 1, sampled unseen negatives 0.

    The weighted mean over the targets (weight 1) and the unmasked negatives
    (weight ``negative_weight`` each), of either output layout of
    :class:`DeepCFModule` (per interaction or per user). A float mask
    multiplies each negative's weight (a small catalogue's negatives are
    every item once, each counted as often as a draw would hold it).
    """

    def __init__(self, negative_weight=1.0):
        super().__init__()
        self.negative_weight = float(negative_weight)

    def forward(self, y_pred, y_true=None):
        if len(y_pred) == 2:  # per interaction: column 0 holds the targets
            logits, mask = y_pred
            positive, negative, mask = logits[:, 0], logits[:, 1:], mask[:, 1:]
        else:
            positive, negative, mask = y_pred
        mask = mask.to(negative.dtype)
        loss = (
            F.binary_cross_entropy_with_logits(positive, torch.ones_like(positive), reduction="sum")
            + self.negative_weight
            * (
                F.binary_cross_entropy_with_logits(
                    negative, torch.zeros_like(negative), reduction="none"
                )
                * mask
            ).sum()
        )
        return loss / (positive.numel() + self.negative_weight * mask.sum())


class _Indices(torch.utils.data.Dataset):
    """A dataset of the integers ``0 .. n - 1`` (the collate function builds batches)."""

    def __init__(self, n):
        self.n = int(n)

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


class _DeepCFCollate:
    """Batch of interactions -> (history rows without the target, targets).

    The target item of each training example is removed from its user's
    history row, so the network never sees the item it must predict.
    """

    def __init__(self, X):
        self.X = X
        self.rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))

    def __call__(self, batch):
        X = self.X
        e = np.asarray(batch, dtype=np.int64)
        rows = self.rows[e]
        starts, lengths = X.indptr[rows], np.diff(X.indptr)[rows]
        total = int(lengths.sum())
        owner = np.repeat(np.arange(e.size), lengths)
        within = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        position = np.repeat(starts, lengths) + within
        keep = position != e[owner]
        position = position[keep]
        indptr = np.concatenate([[0], np.cumsum(lengths - 1)])
        history = sp.csr_matrix(
            (X.data[position], X.indices[position], indptr), shape=(e.size, X.shape[1])
        )
        targets = torch.as_tensor(X.indices[e].astype(np.int64))
        return {"history": csr_batch_tensor(torch, history), "targets": targets}, torch.empty(0)


class _DeepCFUserCollate:
    """Batch of users -> (history rows without their targets, targets, target rows).

    A random ``target_fraction`` of each row's items (at least one, and at
    least one item left in the history when the row has two or more) is
    drawn afresh for every batch with torch's generator, removed from the
    history and used as targets: the targets are the items dropped out of
    the input. The remaining history keeps the weights of the whole
    L2-normalised row, scaled by ``1 / (1 - target_fraction)``.
    """

    def __init__(self, X, target_fraction):
        self.X = X
        self.target_fraction = float(target_fraction)

    def __call__(self, batch):
        X = self.X
        rows = np.asarray(batch, dtype=np.int64)
        Xb = X[rows]
        lengths = np.diff(Xb.indptr)
        n_targets = np.clip(np.ceil(self.target_fraction * lengths), 1, np.maximum(lengths - 1, 1))
        # rank of each entry among its row's entries under random keys
        keys = torch.rand(Xb.nnz, dtype=torch.float64).numpy()
        owner = np.repeat(np.arange(rows.size), lengths)
        order = np.lexsort((keys, owner))
        rank = np.empty(Xb.nnz, dtype=np.int64)
        rank[order] = np.arange(Xb.nnz) - np.repeat(Xb.indptr[:-1], lengths)
        is_target = rank < np.repeat(n_targets, lengths)
        kept = ~is_target
        # history weights: the whole row's L2-normalised values, the targets
        # dropped and the rest scaled by 1 / (1 - target_fraction), as
        # inverted dropout does: in expectation the user vector of training
        # is that of the whole row that scoring sees
        data = l2_normalized_values(Xb, 1.0 - self.target_fraction)
        history = sp.csr_matrix(
            (
                data[kept],
                Xb.indices[kept],
                np.concatenate([[0], np.cumsum(np.bincount(owner[kept], minlength=rows.size))]),
            ),
            shape=Xb.shape,
        )
        targets = sp.csr_matrix(
            (
                np.ones(int(is_target.sum()), dtype=np.float32),
                Xb.indices[is_target],
                np.concatenate(
                    [[0], np.cumsum(np.bincount(owner[is_target], minlength=rows.size))]
                ),
            ),
            shape=Xb.shape,
        )
        inputs = {
            "history": csr_batch_tensor(torch, history, normalize=False),
            "targets": csr_batch_tensor(torch, targets, normalize=False),
        }
        return inputs, torch.empty(0)


def deepcf_training_data(X, examples="interactions", target_fraction=0.2):
    """``(dataset, collate_fn)`` of CSR ``X``: one example per stored interaction
    (``examples="interactions"``) or per row (``"users"``)."""
    if examples == "users":
        return _Indices(X.shape[0]), _DeepCFUserCollate(X, target_fraction)
    return _Indices(X.nnz), _DeepCFCollate(X)


# --------------------------------------------------------------------------
# Mult-VAE (Liang et al., WWW 2018)
# --------------------------------------------------------------------------
class MultVAEModule(nn.Module):
    """Variational autoencoder with a multinomial likelihood over the catalogue.

    Encoder: the L2-normalised history row (with input dropout in training)
    through ``tanh`` layers to the mean and log-variance of a diagonal
    Gaussian; decoder: a sample (the mean when scoring) through ``tanh``
    layers to one logit per item.
    """

    def __init__(self, n_items, n_components, hidden_layer_sizes, dropout, mixed_precision=False):
        super().__init__()
        d = int(n_components)
        self.mixed_precision = bool(mixed_precision)
        sizes = [int(h) for h in hidden_layer_sizes]
        first = sizes[0] if sizes else 2 * d
        self.first = nn.EmbeddingBag(int(n_items), first, mode="sum")
        self.first_bias = nn.Parameter(torch.zeros(first))
        enc = [*sizes, 2 * d]
        self.encoder = nn.ModuleList(nn.Linear(a, b) for a, b in zip(enc, enc[1:]))
        dec = [d, *reversed(sizes), int(n_items)]
        self.decoder = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dec, dec[1:]))
        self.input_dropout = nn.Dropout(dropout)
        self.n_components = d
        # Xavier initialisation as in the authors' code; the first layer is
        # an EmbeddingBag of shape (n_items, first), i.e. the transposed weight
        nn.init.xavier_uniform_(self.first.weight)
        for layer in (*self.encoder, *self.decoder):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.normal_(layer.bias, std=0.001)

    def encode(self, history):
        items, offsets, weights = bag_inputs(history)
        h = self.first(items, offsets, per_sample_weights=self.input_dropout(weights))
        h = h + self.first_bias
        for layer in self.encoder:
            h = layer(torch.tanh(h))
        return h[:, : self.n_components], h[:, self.n_components :]

    def decode(self, z):
        for i, layer in enumerate(self.decoder):
            z = layer(z if i == 0 else torch.tanh(z))
        return z

    def forward(self, history, target):
        with _autocast(self.mixed_precision, self.first_bias):
            mu, logvar = self.encode(history)
            mu, logvar = mu.float(), logvar.float()
            if self.training:
                z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            else:
                z = mu
            logits = self.decode(z)
        return logits.float(), mu, logvar, target

    def scoring_items(self):
        """Nothing to precompute per item (the decoder is one dense layer)."""
        return None

    def score(self, history, items=None):
        """Logits ``(B, n_items)`` of every item (the decoder of the mean)."""
        with _autocast(self.mixed_precision, self.first_bias):
            mu, _ = self.encode(history)
            logits = self.decode(mu)
        return logits.float()


class MultVAELoss(nn.Module):
    """Multinomial negative log-likelihood + beta * KL, beta annealed to a cap."""

    def __init__(self, anneal_cap=0.2, anneal_steps=1):
        super().__init__()
        self.anneal_cap = float(anneal_cap)
        self.anneal_steps = max(int(anneal_steps), 1)
        self.step = 0

    def beta(self):
        return min(self.anneal_cap, self.anneal_cap * self.step / self.anneal_steps)

    def forward(self, y_pred, y_true=None):
        logits, mu, logvar, target = y_pred
        log_p = F.log_softmax(logits, dim=1)
        crow = target.crow_indices()
        rows = torch.repeat_interleave(
            torch.arange(logits.shape[0], device=logits.device), crow[1:] - crow[:-1]
        )
        nll = -(target.values() * log_p[rows, target.col_indices()]).sum() / logits.shape[0]
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1).mean()
        beta = self.beta()
        if self.training:
            self.step += 1
        return nll + beta * kl


class _MultVAECollate:
    """Batch of user rows -> (normalised history, raw target) CSR tensors."""

    def __init__(self, X):
        self.X = X

    def __call__(self, batch):
        rows = np.asarray(batch, dtype=np.int64)
        Xb = self.X[rows]
        # the likelihood weights are the scaled values themselves, not normalised
        target = csr_batch_tensor(torch, Xb, normalize=False)
        return {"history": csr_batch_tensor(torch, Xb), "target": target}, torch.empty(0)


def multvae_training_data(X):
    """``(dataset, collate_fn)``: one example per row of CSR ``X``."""
    return _Indices(X.shape[0]), _MultVAECollate(X)
