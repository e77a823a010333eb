"""What both stages share: the data sets, the surrogate models and the samplers (numpy only)."""

from __future__ import annotations

import numpy as np

DEGREES = {"linear": 1, "quadratic": 2, "cubic": 3}


def make_data(name: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy samples of a 1-D function on [-1, 1]."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, n)
    if name == "sine":
        y = np.sin(3 * x)
    elif name == "step":
        y = np.where(x > 0, 1.0, -0.5)
    else:
        msg = f"unknown data {name!r} (choose from: sine, step)"
        raise ValueError(msg)
    return x, y + 0.05 * rng.standard_normal(n)


def fit(model: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares polynomial coefficients (highest degree first), the "target" of stage A."""
    if model not in DEGREES:
        msg = f"unknown model {model!r} (choose from: {', '.join(DEGREES)})"
        raise ValueError(msg)
    return np.polyfit(x, y, DEGREES[model])


def exact_integral(coefficients: np.ndarray) -> float:
    """The integral of the polynomial over [-1, 1]."""
    antiderivative = np.polyint(coefficients)
    return float(np.polyval(antiderivative, 1.0) - np.polyval(antiderivative, -1.0))


def sample_points(sampler: str, n: int, seed: int) -> np.ndarray:
    """``n`` points in [-1, 1] drawn by ``sampler``."""
    rng = np.random.default_rng(seed)
    if sampler == "uniform":
        return rng.uniform(-1.0, 1.0, n)
    if sampler == "grid":
        return -1.0 + (np.arange(n) + 0.5) * (2.0 / n)  # midpoint rule
    if sampler == "antithetic":
        half = rng.uniform(-1.0, 1.0, n // 2)
        return np.concatenate([half, -half])
    msg = f"unknown sampler {sampler!r} (choose from: uniform, grid, antithetic)"
    raise ValueError(msg)
