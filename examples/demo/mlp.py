"""A tiny one-hidden-layer MLP in numpy, trained with full-batch Adam on a noisy 1-D regression problem."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterator


@dataclass
class Data:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def make_data(n: int, noise: float, seed: int) -> Data:
    """y = sin(3x) + 0.3 x^2 + noise on x in [-2, 2]; a fixed validation grid of 200 points."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, size=(n, 1))
    y = np.sin(3 * x) + 0.3 * x**2 + noise * rng.standard_normal((n, 1))
    x_val = np.linspace(-2.0, 2.0, 200).reshape(-1, 1)
    y_val = np.sin(3 * x_val) + 0.3 * x_val**2
    return Data(x, y, x_val, y_val)


def train(
    data: Data, *, hidden: int, lr: float, l2: float, steps: int, seed: int, log_every: int = 25
) -> Iterator[tuple[int, float, float]]:
    """Yield (step, train_loss, val_loss) every ``log_every`` steps and at the last step."""
    rng = np.random.default_rng(seed + 1)
    w1 = rng.standard_normal((1, hidden)) * 1.0
    b1 = np.zeros(hidden)
    w2 = rng.standard_normal((hidden, 1)) / np.sqrt(hidden)
    b2 = np.zeros(1)
    params = [w1, b1, w2, b2]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8

    def forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = np.tanh(x @ w1 + b1)
        return h, h @ w2 + b2

    n = len(data.x_train)
    for step in range(1, steps + 1):
        h, pred = forward(data.x_train)
        err = pred - data.y_train
        train_loss = float(np.mean(err**2))
        g_pred = 2 * err / n
        g_w2 = h.T @ g_pred + l2 * w2
        g_b2 = g_pred.sum(axis=0)
        g_h = (g_pred @ w2.T) * (1 - h**2)
        g_w1 = data.x_train.T @ g_h + l2 * w1
        g_b1 = g_h.sum(axis=0)
        for i, (p, g) in enumerate(zip(params, (g_w1, g_b1, g_w2, g_b2), strict=True)):
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g**2
            m_hat = m[i] / (1 - beta1**step)
            v_hat = v[i] / (1 - beta2**step)
            p -= lr * m_hat / (np.sqrt(v_hat) + eps)  # noqa: PLW2901 - in-place update of the parameter
        if step % log_every == 0 or step == steps:
            _, val_pred = forward(data.x_val)
            val_loss = float(np.mean((val_pred - data.y_val) ** 2))
            yield step, train_loss, val_loss
