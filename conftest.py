"""Test configuration shared by the whole repository."""

import os
from pathlib import Path

# Point the dataset loaders at the shared real datasets beside the checkout
# when the caller has not chosen a data home: tests needing data that is not
# there skip with a reason.
_SHARED = Path(__file__).resolve().parent.parent / "shared" / "data"
if "SKLEARN_MUSICREC_DATA" not in os.environ and _SHARED.is_dir():
    os.environ["SKLEARN_MUSICREC_DATA"] = str(_SHARED)
