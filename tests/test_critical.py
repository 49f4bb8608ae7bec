"""NeuCEPT critical neurons on parity-cnn: selection, instant re-thresholding, mechanisms, errors."""

import numpy as np
import pytest

from innersight_widgets import Analysis, load_digits, load_pretrained
from innersight_widgets.core.critical import (
    ablation_comparison,
    critical_neurons,
    evaluate_mechanisms,
    mechanisms,
)
from innersight_widgets.core.knockoffs import knockoff_threshold


@pytest.fixture(scope="module")
def analysis():
    return Analysis(load_pretrained("parity-cnn"), load_digits("parity", "train"), layers=["relu3", "fc1"], progress=False)


@pytest.fixture(scope="module")
def critical(analysis):
    return critical_neurons(analysis, "relu3", "even", fdr=0.1, runs=5, seed=0)


def test_selection_is_seeded_and_rethresholding_needs_no_refit(analysis, critical):
    again = critical_neurons(analysis, "relu3", "even", fdr=0.1, runs=5, seed=0)
    assert np.array_equal(again.w, critical.w) and critical.selected.size > 0
    assert critical.selected.size >= 10  # knockoff+ at q=0.1 never selects fewer than 1/q
    for q in (0.05, 0.2, 0.3):
        moved = critical.at(q)
        assert moved.w is critical.w  # the same statistics, only a new threshold
        assert moved.threshold == knockoff_threshold(critical.w[0], q)
        assert np.array_equal(moved.selected, np.flatnonzero(critical.w[0] >= moved.threshold))
    assert np.all((critical.frequency >= 0) & (critical.frequency <= 1))
    assert np.all(critical.frequency[critical.selected] > 0)
    assert set(critical.to_dataframe().columns) >= {"W", "frequency", "selected"}


def test_mechanisms_of_even_say_more_about_the_digit_than_random_neurons(analysis, critical):
    found = mechanisms(analysis, critical)
    assert found.k >= 2 and set(found.images) == set(np.flatnonzero(analysis.predictions.classes == 0))
    report = evaluate_mechanisms(analysis, critical, found, "digit", draws=10)
    # measured: NMI 0.51 from the critical neurons, 0.44 from random sets of the same size,
    # 0.37 from the most salient neurons; the margin asserted is 0.03 over random
    assert report.nmi >= report.random_nmi + 0.03
    assert report.nmi > report.saliency_nmi
    assert report.conditional_entropy < np.log(5)


def test_masking_critical_neurons_hurts_the_class_more_than_random_ones(analysis, critical):
    drops = ablation_comparison(analysis, critical, draws=10)
    assert drops["critical"] > drops["random"] + drops["random_std"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"fdr": 1.5}, r"must lie in \(0, 1\)"),
        ({"fdr": 0.0}, r"must lie in \(0, 1\)"),
        ({"target_class": "prime"}, "unknown class 'prime'"),
        ({"layer": "conv9"}, "no layer named 'conv9'"),
    ],
)
def test_bad_input_is_explained(analysis, kwargs, message):
    args = {"layer": "relu3", "target_class": "even", "fdr": 0.1, "runs": 1} | kwargs
    with pytest.raises(ValueError, match=message):
        critical_neurons(analysis, **args)


def test_too_few_images_and_a_never_predicted_class(analysis):
    small = Analysis(analysis.model, analysis.data.subset(range(100)), layers=["relu3"], progress=False)
    with pytest.raises(ValueError, match="at least 2 x neurons = 128 images"):
        critical_neurons(small, "relu3", "even")
    called_even = np.flatnonzero(analysis.predictions.classes == 0)[:200]
    only_even = Analysis(analysis.model, analysis.data.subset(called_even), layers=["fc1"], progress=False)
    with pytest.raises(ValueError, match="never predicts 'odd'"):
        critical_neurons(only_even, "fc1", "odd")
