"""Models' outputs as models give them: a tensor, a dict or Hugging Face ``ModelOutput`` with
``logits``, a tuple with one N x K tensor, or anything an ``output=`` callable reads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from innersight_widgets import Analysis


class Returning(nn.Module):
    """The tiny model's logits, returned in the form ``wrap`` gives them."""

    def __init__(self, model: nn.Module, wrap) -> None:
        super().__init__()
        self.inner, self.wrap = model, wrap

    def forward(self, x: torch.Tensor):
        return self.wrap(self.inner(x), x)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda logits, x: {"logits": logits, "hidden": x},
        lambda logits, x: (logits, x),
        lambda logits, x: [x.flatten(2), logits],
    ],
    ids=["dict", "tuple", "list"],
)
def test_an_output_whose_logits_can_be_found_is_read_as_it_is(tiny_model, tiny_data, wrap):
    plain = Analysis(tiny_model, tiny_data, layers=["conv", "head"], progress=False)
    wrapped = Analysis(Returning(tiny_model, wrap), tiny_data, layers=["inner.conv", "inner.head"], progress=False)
    np.testing.assert_allclose(wrapped.predictions.logits, plain.predictions.logits, rtol=1e-6)
    np.testing.assert_allclose(wrapped.profiles("inner.conv"), plain.profiles("conv"), rtol=1e-6)
    after = wrapped.ablate({"inner.conv": [0, 1]}).logits_after
    np.testing.assert_allclose(after, plain.ablate({"conv": [0, 1]}).logits_after, rtol=1e-5, atol=1e-6)


def test_a_hugging_face_model_output_is_read_by_its_logits(tiny_model, tiny_data):
    pytest.importorskip("transformers", reason="transformers is an optional extra ([test] installs it)")
    from transformers.modeling_outputs import ImageClassifierOutput

    model = Returning(tiny_model, lambda logits, x: ImageClassifierOutput(logits=logits, hidden_states=(x,)))
    an = Analysis(model, tiny_data, layers=["inner.head"], progress=False)
    assert an.predictions.logits.shape == (37, 3)


def test_an_output_with_no_findable_logits_names_both_ways_out(tiny_model, tiny_data):
    two = Returning(tiny_model, lambda logits, x: (logits, logits * 2))
    with pytest.raises(TypeError, match=r"output=lambda out.*wrap the model"):
        Analysis(two, tiny_data, progress=False)
    an = Analysis(two, tiny_data, layers=["inner.head"], progress=False, output=lambda out: out[1])
    plain = Analysis(tiny_model, tiny_data, layers=["head"], progress=False)
    np.testing.assert_allclose(an.predictions.logits, 2 * plain.predictions.logits, rtol=1e-6)
    with pytest.raises(TypeError, match="output must be a callable"):
        Analysis(tiny_model, tiny_data, progress=False, output="logits")


def test_a_model_whose_logits_are_not_n_by_k_is_explained(tiny_data):
    class Flat(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3 * 8 * 8, 3)

        def forward(self, x):
            return self.fc(x.flatten(1)).reshape(-1)

    with pytest.raises(TypeError, match="must return logits of shape N x K.*output=lambda"):
        Analysis(Flat(), tiny_data, progress=False)


def test_the_output_reader_is_part_of_the_cache_key(tiny_model, tiny_data, tmp_path):
    pair = Returning(tiny_model, lambda logits, x: (logits, logits * 2))
    first = Analysis(pair, tiny_data, layers=["inner.head"], progress=False, cache_dir=tmp_path, output=lambda o: o[0])
    first.profiles("inner.head")
    second = Analysis(pair, tiny_data, layers=["inner.head"], progress=False, cache_dir=tmp_path, output=lambda o: o[1])
    assert not second.cached
    np.testing.assert_allclose(second.predictions.logits, 2 * first.predictions.logits, rtol=1e-6)
