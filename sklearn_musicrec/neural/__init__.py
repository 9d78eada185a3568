"""Neural recommenders (PyTorch through skorch), folding in new users.

:class:`DeepCFRecommender` (NeuMF-style neural matching with a history-based
user tower and optional item-feature embeddings) and
:class:`MultVAERecommender` (the variational autoencoder of Liang et al.).
Importing this module does not import torch: ``fit`` does.
"""

from ._deepcf import DeepCFRecommender
from ._multvae import MultVAERecommender

__all__ = ["DeepCFRecommender", "MultVAERecommender"]
