"""The one device helper of the package: torch import, device choice, threads.

torch is imported lazily (inside the functions), so importing this module or
the package never imports it.
"""

import re
from contextlib import contextmanager

__all__ = ["import_torch", "resolve_device", "torch_num_threads"]

_CUDA_INDEXED = re.compile(r"cuda:(\d+)")


def import_torch(whom):
    """Import and return :mod:`torch`, or raise an ``ImportError`` naming ``whom``.

    Parameters
    ----------
    whom : str
        Name of the estimator (or function) that needs torch, for the message.

    Returns
    -------
    torch : module
    """
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a test dependency
        raise ImportError(
            f"{whom} needs PyTorch; install it with `pip install torch` (the CPU "
            "build is enough) or `pip install sklearn-musicrec[torch]`."
        ) from exc
    return torch


def resolve_device(device, whom):
    """Check that ``device`` can be used and return the torch device string.

    Parameters
    ----------
    device : {"cpu", "cuda", "cuda:N", "auto"}
        The requested device. ``"auto"`` means ``"cuda"`` when PyTorch sees a
        CUDA device and ``"cpu"`` otherwise.
    whom : str
        Name of the estimator, for the error messages.

    Returns
    -------
    device : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``: never ``"auto"``.

    Raises
    ------
    ValueError
        When CUDA is requested but PyTorch sees no CUDA device (or not device
        ``N``); the message names ``device='cpu'`` (or ``"auto"``) as the
        alternative.

    Examples
    --------
    >>> from sklearn_musicrec.utils._devices import resolve_device
    >>> resolve_device("cpu", "MyRecommender")
    'cpu'
    """
    if device == "cpu":
        return "cpu"
    if not isinstance(device, str) or not (
        device in ("cuda", "auto") or _CUDA_INDEXED.fullmatch(device)
    ):
        raise ValueError(
            f"{whom}: device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}."
        )
    torch = import_torch(f"{whom}(device={device!r})")
    available = torch.cuda.is_available()
    if device == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise ValueError(
            f"{whom}(device={device!r}) was requested but PyTorch sees no CUDA "
            "device; use device='cpu' (or device='auto' to use CUDA only when present)."
        )
    match = _CUDA_INDEXED.fullmatch(device)
    if match is not None:
        count = torch.cuda.device_count()
        if int(match.group(1)) >= count:
            raise ValueError(
                f"{whom}(device={device!r}) was requested but PyTorch sees "
                f"{count} CUDA device(s) (cuda:0 to cuda:{count - 1}); use one of "
                "them, device='cuda', or device='cpu'."
            )
    return device


@contextmanager
def torch_num_threads(n_threads):
    """Run torch's CPU operators on ``n_threads`` threads; restore the setting after.

    Parameters
    ----------
    n_threads : int
        Number of intra-op threads (at least 1).
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(max(int(n_threads), 1))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
