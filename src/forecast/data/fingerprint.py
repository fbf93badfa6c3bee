"""A short, order-free fingerprint of a data set's content, logged with every training run."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd


def fingerprint(*frames: pd.DataFrame) -> str:
    """A short sha256 of the data's content (row order ignored), logged with every run."""
    digest = hashlib.sha256()
    for frame in frames:
        hashed = pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy()
        digest.update(np.sort(hashed).tobytes())
        digest.update("|".join(map(str, frame.columns)).encode())
    return digest.hexdigest()[:16]
