"""Widget constructors refuse nonsense arguments with a sentence, before any work starts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from innersight_widgets import Analysis, Circuit, CircuitView, CommunityExplorer, CriticalNeuronsView


@pytest.fixture(scope="module")
def analysis():
    g = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(2))
    model(torch.zeros(1, 3, 8, 8))
    return Analysis(model, (torch.rand(20, 3, 8, 8, generator=g), torch.arange(20) % 2), progress=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"top_k": -3}, "top_k must be a positive integer"),
        ({"top_k": "many"}, "top_k must be a positive integer"),
        ({"top_k": 2.5}, "top_k must be a positive integer"),
        ({"draws": 0}, "draws must be a positive integer"),
        ({"debounce": -1}, "debounce must be a number of seconds >= 0"),
        ({"debounce": float("nan")}, "debounce must be a number of seconds >= 0"),
        ({"stability_runs": 51}, r"stability_runs must be an integer in 0\.\.50 \(re-runs"),
        ({"stability_runs": True}, "stability_runs must be an integer in 0..50"),
    ],
)
def test_the_explorer_refuses_bad_arguments(analysis, kwargs, message):
    with pytest.raises(ValueError, match=message):
        CommunityExplorer(analysis, **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"runs": 0}, "runs must be a positive integer"),
        ({"images_per_mechanism": True}, "images_per_mechanism must be a positive integer"),
        ({"debounce": "soon"}, "debounce must be a number of seconds"),
    ],
)
def test_the_critical_neurons_view_refuses_bad_arguments(analysis, kwargs, message):
    with pytest.raises(ValueError, match=message):
        CriticalNeuronsView(analysis, **kwargs)


def test_the_circuit_view_refuses_bad_arguments():
    empty = Circuit(0, "a", [], {}, {}, {}, [], [], [], np.zeros((0, 5), dtype=np.int64))
    with pytest.raises(ValueError, match="crops_per_group must be a positive integer"):
        CircuitView(empty, crops_per_group=0)
