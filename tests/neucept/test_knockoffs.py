"""Model-X knockoffs, checked against their definitions and on simulations with known truth."""

import math

import numpy as np
import pytest

from innersight_widgets.neucept.knockoffs import (
    equicorrelated_s,
    gaussian_knockoffs,
    knockoff_run,
    knockoff_threshold,
    lasso_statistics,
    select,
)


def ar1(n, p, rho, rng):
    idx = np.arange(p)
    cov = rho ** np.abs(idx[:, None] - idx[None, :])
    return rng.standard_normal((n, p)) @ np.linalg.cholesky(cov).T, cov


def simulate(seed, signals=30, amplitude=0.25, n=500, p=200):
    rng = np.random.default_rng(seed)
    x, _ = ar1(n, p, 0.5, rng)
    beta = np.zeros(p)
    truth = rng.choice(p, signals, replace=False)
    beta[truth] = amplitude * rng.choice([-1, 1], signals)
    return x, x @ beta + rng.standard_normal(n), set(truth.tolist()), rng


def test_two_sigma_minus_s_is_positive_semidefinite():
    x, cov = ar1(400, 30, 0.5, np.random.default_rng(0))
    s = equicorrelated_s(cov)
    assert 0 < s <= 1
    assert np.linalg.eigvalsh(2 * cov - s * np.eye(30))[0] >= 0
    assert equicorrelated_s(np.eye(5)) == pytest.approx(0.999)  # independent columns: s = 1 (times safety)


def test_the_joint_covariance_of_x_and_its_knockoffs_is_the_knockoff_covariance():
    rng = np.random.default_rng(1)
    x, cov = ar1(40_000, 6, 0.6, rng)
    knockoffs, s = gaussian_knockoffs(x, rng)
    joint = np.cov(np.hstack([x, knockoffs]).T)
    sigma, cross, tilde = joint[:6, :6], joint[:6, 6:], joint[6:, 6:]
    np.testing.assert_allclose(tilde, sigma, atol=0.04)  # X~ has the covariance of X
    np.testing.assert_allclose(cross, sigma - s * np.diag(np.diag(sigma)), atol=0.04)  # Cov(X, X~) = Sigma - S


def test_swapping_a_column_with_its_knockoff_flips_the_sign_of_its_statistic():
    x, y, truth, rng = simulate(2, signals=10, amplitude=0.5, p=40)
    knockoffs, _ = gaussian_knockoffs(x, rng)
    w = lasso_statistics(x, knockoffs, y, np.random.default_rng(5))
    j = sorted(truth)[0]
    xs, ks = x.copy(), knockoffs.copy()
    xs[:, j], ks[:, j] = knockoffs[:, j], x[:, j]
    swapped = lasso_statistics(xs, ks, y, np.random.default_rng(5))
    assert w[j] > 0
    assert swapped[j] == pytest.approx(-w[j], rel=1e-2, abs=1e-3)
    others = np.delete(np.arange(40), j)
    np.testing.assert_allclose(swapped[others], w[others], atol=5e-3)


@pytest.mark.parametrize(
    "w, q, plus, expected",
    [
        ([3, 2, 1, -1], 0.5, True, 2.0),  # t=1: (1+1)/3 > 0.5; t=2: (1+0)/2 = 0.5
        ([3, 2, 1, -1], 0.5, False, 1.0),  # plain: t=1: 1/3
        ([2, 2, -2, 1], 0.5, True, math.inf),  # ties count on both sides: t=2: (1+1)/2 = 1
        ([2, 2, -2, 1], 0.5, False, 1.0),
        ([0, 0, 0], 0.1, True, math.inf),  # nothing nonzero, nothing selected
        ([5] * 10 + [-1], 0.2, True, 1.0),  # t=1: (1+1)/10 = 0.2
    ],
)
def test_threshold_hand_worked_cases(w, q, plus, expected):
    assert knockoff_threshold(np.array(w, float), q, plus) == expected


def test_a_non_empty_knockoff_plus_selection_has_at_least_one_over_q_members():
    rng = np.random.default_rng(3)
    for _ in range(300):
        q = rng.choice([0.05, 0.1, 0.2, 0.3])
        w = rng.normal(0.3, 1, size=rng.integers(5, 80)) * (rng.random(1) < 0.9)
        chosen = select(w, q)
        assert chosen.size == 0 or chosen.size >= math.ceil(1 / q)


def test_bad_q_and_constant_columns():
    with pytest.raises(ValueError, match=r"must lie in \(0, 1\)"):
        knockoff_threshold(np.ones(3), 1.0)
    x, y, _, rng = simulate(4, signals=5, amplitude=0.5, p=20)
    x[:, 3] = 7.0  # a dead neuron
    run = knockoff_run(x, y, rng)
    assert run.w[3] == 0 and np.isfinite(run.w).all() and not run.no_power


def test_fdr_and_power_on_the_simulation():
    """AR(1) 0.5, n=500, p=200, 30 signals of amplitude 0.25, q=0.1, over 40 simulations."""
    fdp, power = [], []
    for seed in range(40):
        x, y, truth, rng = simulate(seed)
        chosen = set(select(knockoff_run(x, y, rng).w, 0.1).tolist())
        fdp.append(len(chosen - truth) / max(1, len(chosen)))
        power.append(len(chosen & truth) / len(truth))
    assert np.mean(fdp) <= 0.125, fdp
    assert np.mean(power) >= 0.85, power


def test_under_the_global_null_few_runs_select_anything():
    # knockoff+ keeps P(selecting anything) under the global null near q: 40 runs at n=300,
    # p=100 (the null's Lasso paths at p=200 cost ten times as much and test the same)
    selected_any = 0
    for seed in range(40):
        x, y, _, rng = simulate(100 + seed, signals=0, n=300, p=100)
        selected_any += select(knockoff_run(x, y, rng).w, 0.1).size > 0
    assert selected_any <= 8  # about q = 10% of 40 runs; 8 or fewer has probability 0.98 at exactly 10%
