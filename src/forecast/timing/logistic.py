"""The logistic function the time-to-close model's parts share: each probability (close hazard,
won share) is a logit, turned into a probability in one place."""

from __future__ import annotations

import numpy as np


def expit(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^−x), elementwise: the probability of logit `x`."""
    return 1.0 / (1.0 + np.exp(-x))
