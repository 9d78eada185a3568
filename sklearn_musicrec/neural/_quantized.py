"""Inference-only torch layers over quantised item-side matrices (``quantize``).

:meth:`~sklearn_musicrec.neural._base._NeuralRecommender.quantize` replaces
the large item-side layers of a trained module by these drop-in layers,
which keep no float32 weight: they hold a
:class:`~sklearn_musicrec.utils._quantize.QuantizedArray` (float16, or int8
codes with per-row float32 scales) and compute with the helpers of
``utils/_quantize.py``, the one home of the arithmetic:

- :class:`QuantizedEmbeddingBag` (Mult-VAE's first encoder layer, DeepCF's
  input item embeddings and feature embeddings) gathers and dequantises only
  the rows a batch of histories reads (:func:`take_rows`), then sums the bags
  with ``F.embedding_bag``;
- :class:`QuantizedEmbedding` (DeepCF's output item embeddings) gathers rows
  for ids, and its ``weight`` is a temporary dequantised copy, made once per
  scoring call where the item side is computed for the whole catalogue
  (``DeepCFModule.scoring_items``, whose MLP half feeds the fused kernel);
- :class:`QuantizedLinear` (Mult-VAE's decoder output layer, weight
  ``(n_items, width)``) multiplies blockwise, dequantising one block of item
  rows at a time (:func:`matmul_t`); the bias stays float32.

The computation runs on the host (numpy); on a CUDA module the gathered rows
and the products are moved to the device. The layers refuse to run in
training mode: a quantised model is inference-only (fitting again builds a
new float model).

This module imports torch: import it lazily.
"""

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..utils._quantize import QuantizedArray, as_dense, matmul_t, take_rows

__all__ = ["install_quantized", "quantized_layers", "quantized_weight"]


def _check_inference(layer):
    if layer.training:
        raise RuntimeError(
            f"{type(layer).__name__} holds quantized weights and is inference-only: a "
            "quantized model cannot continue training; fit the estimator again for a "
            "float model."
        )


class _QuantizedLayer(nn.Module):
    """A layer computing with a :class:`QuantizedArray` ``weight_q`` of item (or feature) rows."""

    def __init__(self, weight_q, device):
        super().__init__()
        self.weight_q = weight_q
        # follows module.to(device); not saved in the state dict
        self.register_buffer("_device_anchor", torch.empty(0, device=device), persistent=False)

    @property
    def device(self):
        return self._device_anchor.device

    def _rows(self, ids):
        """Dequantised rows ``ids`` (a CPU int64 ndarray) as a float32 tensor on the device."""
        return torch.from_numpy(np.ascontiguousarray(take_rows(self.weight_q, ids))).to(self.device)

    def extra_repr(self):
        return f"{self.weight_q.shape[0]}, {self.weight_q.shape[1]}, kind={self.weight_q.kind!r}"


class QuantizedEmbeddingBag(_QuantizedLayer):
    """``nn.EmbeddingBag`` over quantised rows: only the rows a batch reads are dequantised."""

    def __init__(self, weight_q, mode, device):
        super().__init__(weight_q, device)
        self.mode = mode

    def forward(self, input, offsets, per_sample_weights=None):
        _check_inference(self)
        n_bags = offsets.shape[0]
        width = self.weight_q.shape[1]
        if input.numel() == 0:
            return torch.zeros((n_bags, width), dtype=torch.float32, device=self.device)
        ids, inverse = np.unique(input.cpu().numpy(), return_inverse=True)
        return F.embedding_bag(
            torch.from_numpy(inverse.reshape(-1).astype(np.int64)).to(input.device),
            self._rows(ids),
            offsets,
            mode=self.mode,
            per_sample_weights=per_sample_weights,
        )


class QuantizedEmbedding(_QuantizedLayer):
    """``nn.Embedding`` over quantised rows."""

    def forward(self, input):
        _check_inference(self)
        ids = input.cpu().numpy()
        return self._rows(ids.reshape(-1).astype(np.int64)).reshape(*ids.shape, -1)

    @property
    def weight(self):
        """The whole matrix, dequantised: a temporary float32 copy, made on each access."""
        return torch.from_numpy(as_dense(self.weight_q)).to(self.device)


class QuantizedLinear(_QuantizedLayer):
    """``nn.Linear`` whose ``(out_features, in_features)`` weight is quantised per output row.

    ``x @ W.T + b`` is computed by :func:`matmul_t`, which dequantises one
    block of rows of ``W`` at a time; the bias stays float32.
    """

    def __init__(self, weight_q, bias, device):
        super().__init__(weight_q, device)
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())

    def forward(self, x):
        _check_inference(self)
        x_host = np.ascontiguousarray(x.detach().float().cpu().numpy())
        out = torch.from_numpy(matmul_t(x_host, self.weight_q)).to(x.device)
        if self.bias is not None:
            out += self.bias
        return out


def quantized_weight(layer):
    """The item-side matrix of ``layer``: its :class:`QuantizedArray`, or its float weight.

    The float weight is returned as a float32 ndarray of shape
    ``(n_rows, width)`` (rows: items or features; ``nn.Linear``'s
    ``(out_features, in_features)`` weight, whose rows are the items of an
    output layer). A view of the parameter on the CPU, a copy from a GPU.
    """
    if isinstance(layer, _QuantizedLayer):
        return layer.weight_q
    return layer.weight.detach().cpu().numpy()


def install_quantized(module, path, weight_q):
    """Replace the layer at ``path`` of ``module`` by its quantised counterpart.

    ``path`` is a submodule name (``"item_in"``, ``"decoder.1"``); the layer
    there is an ``nn.EmbeddingBag``, ``nn.Embedding`` or ``nn.Linear`` (or a
    quantised layer, re-quantised), and ``weight_q`` a :class:`QuantizedArray`
    of its weight's shape. The float weight is no longer referenced by the
    module afterwards.
    """
    if not isinstance(weight_q, QuantizedArray):
        raise TypeError(f"weight_q must be a QuantizedArray, got {type(weight_q).__name__}.")
    layer = module.get_submodule(path)
    if isinstance(layer, _QuantizedLayer):
        device = layer.device
    else:
        device = layer.weight.device
    if isinstance(layer, (nn.EmbeddingBag, QuantizedEmbeddingBag)):
        new = QuantizedEmbeddingBag(weight_q, layer.mode, device)
    elif isinstance(layer, (nn.Embedding, QuantizedEmbedding)):
        new = QuantizedEmbedding(weight_q, device)
    elif isinstance(layer, (nn.Linear, QuantizedLinear)):
        new = QuantizedLinear(weight_q, layer.bias, device)
    else:
        raise TypeError(f"cannot quantize a {type(layer).__name__} layer ({path!r}).")
    parent_path, _, name = path.rpartition(".")
    setattr(module.get_submodule(parent_path), name, new)
    return new


def quantized_layers(module):
    """``{path: QuantizedArray}`` of the quantised layers of ``module`` (empty if none)."""
    return {
        path: layer.weight_q
        for path, layer in module.named_modules()
        if isinstance(layer, _QuantizedLayer)
    }
