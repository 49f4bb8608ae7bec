"""Model-X knockoffs: variable selection with a false-discovery-rate guarantee (NeuCEPT's engine).

Gaussian knockoffs with a Ledoit-Wolf covariance and the equicorrelated construction,
the lasso coefficient-difference statistic, and the knockoff(+) threshold, written from
the textbook definitions (Candès, Fan, Janson and Lv, 2018; Barber and Candès, 2015).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import Interval

#: The target false-discovery rate q a threshold accepts (a slider of q reads its bounds here).
FDR = Interval(float, 0, 1, closed="neither", meaning="the target false-discovery rate")
# Shrinks the equicorrelated s so that 2*Sigma - S stays safely positive definite.
SAFETY = 0.999
# Below this, s leaves the knockoffs nearly identical to the originals: no power.
MIN_S = 1e-3


@dataclass(frozen=True)
class KnockoffRun:
    """One draw of knockoffs and the statistics computed from it."""

    w: np.ndarray  # p statistics W_j = |beta_j| - |beta~_j| (0 for set-aside columns)
    s: float  # the equicorrelated s on the correlation scale
    no_power: bool  # s was too small for the knockoffs to differ from the originals


def equicorrelated_s(correlation: np.ndarray) -> float:
    """s = min(2 * lambda_min, 1), times a safety factor, for a correlation matrix.

    Parameters
    ----------
    correlation : np.ndarray
        p x p correlation matrix of the variables.

    Returns
    -------
    float
        The equicorrelated s in [0, 1) on the correlation scale; near 0 when the
        matrix is near singular (knockoffs then cannot differ from the originals).
    """
    smallest = float(np.linalg.eigvalsh(correlation)[0])
    return max(0.0, min(2.0 * smallest, 1.0) * SAFETY)


def gaussian_knockoffs(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Knockoff copies of the columns of ``x`` (n x p, no constant columns) and the s used.

    X~ | X ~ N(X - (X - mu) Sigma^-1 S, 2S - S Sigma^-1 S), S = diag(s * var_j).

    Parameters
    ----------
    x : np.ndarray
        n x p observations; no column may be constant.
    rng : np.random.Generator
        Source of the Gaussian draw.

    Returns
    -------
    knockoffs : np.ndarray
        n x p knockoff copies.
    s : float
        The equicorrelated s used (correlation scale), from the Ledoit-Wolf covariance.
    """
    from sklearn.covariance import LedoitWolf

    mu = x.mean(axis=0)
    sigma = LedoitWolf().fit(x).covariance_
    sd = np.sqrt(np.diag(sigma))
    correlation = sigma / np.outer(sd, sd)
    s = equicorrelated_s(correlation)
    big_s = np.diag(s * sd**2)
    sigma_inv_s = np.linalg.solve(sigma, big_s)
    mean = x - (x - mu) @ sigma_inv_s
    cov = 2 * big_s - big_s @ sigma_inv_s
    cov = (cov + cov.T) / 2
    factor = np.linalg.cholesky(cov + 1e-10 * np.trace(cov) / len(cov) * np.eye(len(cov)))
    return mean + rng.standard_normal(x.shape) @ factor.T, s


def lasso_statistics(x: np.ndarray, knockoffs: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """W_j = |beta_j| - |beta~_j| from a cross-validated lasso on [X, X~] (standardised).

    The columns are fitted in a random order so that no solver ordering favours
    originals over knockoffs.

    Parameters
    ----------
    x : np.ndarray
        n x p original variables.
    knockoffs : np.ndarray
        n x p their knockoff copies.
    y : np.ndarray
        n responses (centred before the fit).
    rng : np.random.Generator
        Draws the column order.

    Returns
    -------
    np.ndarray
        p statistics; large positive values mark variables that beat their copies.
    """
    from sklearn.linear_model import LassoCV

    p = x.shape[1]
    both = np.hstack([x, knockoffs])
    both = (both - both.mean(0)) / np.maximum(both.std(0), 1e-12)
    order = rng.permutation(2 * p)
    model = LassoCV(cv=5, alphas=50, eps=1e-2, max_iter=5000)
    model.fit(both[:, order], y - y.mean())
    beta = np.empty(2 * p)
    beta[order] = model.coef_
    return np.abs(beta[:p]) - np.abs(beta[p:])


def knockoff_threshold(w: np.ndarray, fdr: float, plus: bool = True) -> float:
    """The smallest t among the nonzero |W_j| with (offset + #{W_j <= -t}) / max(1, #{W_j >= t}) <= q.

    offset = 1 for knockoff+ (the FDR guarantee), 0 for the plain knockoff (which controls
    a modified FDR). Ties: both counts include W_j equal to +-t. Returns inf when no t
    qualifies, so nothing is selected.

    Parameters
    ----------
    w : np.ndarray
        p knockoff statistics.
    fdr : float
        The target FDR q, in (0, 1).
    plus : bool
        Knockoff+ (offset 1) or the plain knockoff (offset 0).

    Returns
    -------
    float
        The threshold t, or inf.

    Raises
    ------
    ValueError
        If ``fdr`` is not in (0, 1).
    """
    if not FDR.accepts(fdr):
        raise ValueError(f"the target FDR q must lie in (0, 1), got {fdr!r}")
    offset = 1.0 if plus else 0.0
    for t in np.sort(np.unique(np.abs(w[w != 0]))):
        if (offset + np.sum(w <= -t)) / max(1, np.sum(w >= t)) <= fdr:
            return float(t)
    return float("inf")


def select(w: np.ndarray, fdr: float, plus: bool = True) -> np.ndarray:
    """Indices j with W_j >= the knockoff(+) threshold.

    Parameters
    ----------
    w : np.ndarray
        p knockoff statistics.
    fdr : float
        The target FDR q, in (0, 1).
    plus : bool
        Knockoff+ or the plain knockoff threshold.

    Returns
    -------
    np.ndarray
        The selected indices, ascending (empty when nothing qualifies).
    """
    return np.flatnonzero(w >= knockoff_threshold(w, fdr, plus))


def knockoff_run(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> KnockoffRun:
    """Knockoffs and W statistics for the non-constant columns of ``x``; constant ones get W = 0.

    Parameters
    ----------
    x : np.ndarray
        n x p variables (a layer's profiles).
    y : np.ndarray
        n responses (a class logit).
    rng : np.random.Generator
        Source of the knockoff draw and the column order.

    Returns
    -------
    KnockoffRun
        p statistics, the s used, and ``no_power`` when fewer than two columns vary or
        s is below ``MIN_S`` (then every W is 0).
    """
    live = x.std(axis=0) > 1e-8 * (1 + np.abs(x.mean(axis=0)))
    w = np.zeros(x.shape[1])
    if live.sum() < 2:
        return KnockoffRun(w, 0.0, True)
    knockoffs, s = gaussian_knockoffs(x[:, live], rng)
    if s < MIN_S:
        return KnockoffRun(w, s, True)
    w[live] = lasso_statistics(x[:, live], knockoffs, y, rng)
    return KnockoffRun(w, s, False)
