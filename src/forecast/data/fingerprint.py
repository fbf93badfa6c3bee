"""A short, order-free fingerprint of a data set's content, logged with every training run."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from pandas.core.util.hashing import combine_hash_arrays, hash_array


def fingerprint(*frames: pd.DataFrame) -> str:
    """A short sha256 of the data's content (row order ignored), logged with every run."""
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(np.sort(row_hashes(frame)).tobytes())
        digest.update(column_names(frame))
    return digest.hexdigest()[:16]


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """Each row's hash as `fingerprint` sorts them: a row's hash depends on its values only, so
    slices of a frame hashed apart give the whole frame's hashes (`parquet_export`)."""
    # `hash_pandas_object(frame.astype(str), index=False)`, a column's text at a time: the
    # whole frame as text took 800 MiB at a million deals (issue 14). Same hashes.
    columns = (
        hash_array(frame[c].astype(str).array, encoding="utf8", categorize=True)
        for c in frame.columns
    )
    return np.asarray(combine_hash_arrays(columns, len(frame.columns)))


def column_names(frame: pd.DataFrame) -> bytes:
    """What `fingerprint` hashes of a frame's columns, after its rows."""
    return "|".join(map(str, frame.columns)).encode()
