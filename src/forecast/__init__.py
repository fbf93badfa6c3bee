"""Lead scoring and sales-pipeline forecasting: the library both training and serving use."""

import os

# LightGBM's OpenMP threads spin while they wait for each other. When another process holds a
# core (a shared machine, a server beside a training run), a spinning thread starves the one it
# waits for: fitting the deal model with two threads on two busy cores took 28–45 s against 6.4 s
# with one thread; waiting passively, 9.4–10.4 s (issue 14; the models are bit-identical). It
# must be set before OpenMP loads, so here; an explicit OMP_WAIT_POLICY wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
