"""Ablation: a forward hook replacing neurons, batched over many ablations at once."""

import numpy as np
import pytest
import torch
from conftest import TinyNet

from innersight_widgets import Analysis, load_digits, load_pretrained

LAYERS = ["conv", "block", "tokens", "mix", "head"]


def by_hand(model, images, layer, neurons, fill, token_layer=False):
    """Reference: a hand-written hook that writes ``fill`` into the chosen neurons."""
    module = dict(model.named_modules())[layer]

    def hook(_m, _i, out):
        out = out.clone()
        idx = list(neurons)
        if token_layer:
            out[..., idx] = torch.as_tensor(fill, dtype=out.dtype)[idx]
        else:
            shape = [1, len(idx)] + [1] * (out.ndim - 2)
            out[:, idx] = torch.as_tensor(fill, dtype=out.dtype)[idx].view(shape)
        return out

    handle = module.register_forward_hook(hook)
    with torch.no_grad():
        logits = model(images)
    handle.remove()
    return logits.numpy()


@pytest.mark.parametrize("mode", ["zero", "mean"])
@pytest.mark.parametrize("layer", LAYERS)
def test_ablation_equals_a_hand_written_hook(tiny_model, tiny_data, layer, mode):
    an = Analysis(tiny_model, tiny_data, layers=LAYERS, batch_size=16, progress=False)
    neurons = [0, 2]
    fill = an.neuron_means(layer) if mode == "mean" else np.zeros(an.layer_info(layer).num_neurons, np.float32)
    expected = by_hand(tiny_model, tiny_data.images, layer, neurons, fill, token_layer=(layer == "tokens"))
    result = an.ablate({layer: neurons}, mode=mode)
    np.testing.assert_allclose(result.logits_after, expected, rtol=1e-5, atol=1e-5)
    assert result.spec == {layer: (0, 2)}


def test_ablating_nothing_changes_nothing(tiny_model, tiny_data):
    an = Analysis(tiny_model, tiny_data, layers=LAYERS, progress=False)
    for spec in ({}, {"conv": []}):
        result = an.ablate(spec)
        np.testing.assert_allclose(result.logits_after, an.predictions.logits, atol=1e-6)
        assert result.accuracy_after == result.accuracy_before == an.predictions.accuracy
        np.testing.assert_allclose(result.logit_change, 0, atol=1e-6)


def test_ablate_many_equals_repeated_ablate(tiny_model, tiny_data):
    an = Analysis(tiny_model, tiny_data, layers=LAYERS, batch_size=16, progress=False)
    specs = [{"conv": [1]}, {"tokens": [0, 5], "head": [2]}, {}, {"block": [0, 1, 2, 3]}, {"mix": [4]}]
    for mode in ("zero", "mean"):
        together = an.ablate_many(specs, mode=mode)
        for spec, result in zip(specs, together):
            alone = an.ablate(spec, mode=mode)
            np.testing.assert_allclose(result.logits_after, alone.logits_after, rtol=1e-5, atol=1e-5)
            assert result.accuracy_after == alone.accuracy_after


def test_ablate_many_on_chosen_images_gives_those_rows_of_the_full_run(tiny_model, tiny_data):
    an = Analysis(tiny_model, tiny_data, layers=LAYERS, batch_size=8, progress=False)
    specs = [{"conv": [1]}, {"tokens": [0, 5], "head": [2]}, {}]
    full = an.ablate_many(specs)
    chosen = [30, 2, 17, 2, 36, 0, 9, 11, 12, 13, 14]  # any order, repeats allowed; more than a batch
    seen = []
    for result, whole in zip(an.ablate_many(specs, images=chosen, on_progress=lambda d, t: seen.append((d, t))), full):
        np.testing.assert_allclose(result.logits_after, whole.logits_after[chosen], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(result.logits_before, an.predictions.logits[chosen])
        np.testing.assert_array_equal(result.labels, tiny_data.labels.numpy()[chosen])
        correct = whole.logits_after[chosen].argmax(1) == tiny_data.labels.numpy()[chosen]
        assert result.accuracy_after == pytest.approx(correct.mean())
    assert seen[-1] == (3 * len(chosen), 3 * len(chosen))
    picked = an.ablate_many(specs[:1], images=np.array([5, 6]))[0]
    np.testing.assert_allclose(picked.logits_after, full[0].logits_after[5:7], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "images, message",
    [
        ([37], r"image index 37 is out of range: the probe set has images 0\.\.36"),
        ([-1], "image index -1 is out of range"),
        ([], r"non-empty list of probe image indices in 0\.\.36, or None for all 37 images; got 0 value"),
        ([0.5], "got 1 value.* float64"),
        ([[1, 2]], r"in 2 dimension"),
    ],
)
def test_bad_image_indices_are_explained(tiny_model, tiny_data, images, message):
    an = Analysis(tiny_model, tiny_data, layers=["conv"], progress=False)
    with pytest.raises(ValueError, match=message):
        an.ablate_many([{"conv": [0]}], images=images)


def test_progress_is_reported_and_a_stop_request_is_honoured(tiny_model, tiny_data):
    from innersight_widgets.engine import Cancelled

    an = Analysis(tiny_model, tiny_data, layers=LAYERS, batch_size=8, progress=False)
    seen = []
    an.ablate_many([{"conv": [0]}, {"conv": [1]}], on_progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (2 * 37, 2 * 37) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    calls = []
    with pytest.raises(Cancelled):
        an.ablate_many([{"conv": [0]}], should_stop=lambda: calls.append(1) or len(calls) > 2)
    assert len(calls) == 3


def test_results_report_accuracy_and_logit_change(tiny_model, tiny_data):
    an = Analysis(tiny_model, tiny_data, layers=LAYERS, progress=False)
    result = an.ablate({"tokens": [0, 1, 2]})
    labels = tiny_data.labels.numpy()
    after = result.logits_after.argmax(1) == labels
    assert result.accuracy_after == pytest.approx(after.mean())
    for k in range(3):
        assert result.class_accuracy_after[k] == pytest.approx(after[labels == k].mean())
        delta = result.logits_after[labels == k, k] - result.logits_before[labels == k, k]
        assert result.own_logit_change[k] == pytest.approx(delta.mean(), abs=1e-6)
    frame = result.to_dataframe()
    assert list(frame.index) == ["a", "b", "c"]
    assert set(result.to_dict()) >= {"accuracy_before", "accuracy_after", "class_accuracy_after"}


def test_bad_ablations_are_explained(tiny_model, tiny_data):
    an = Analysis(tiny_model, tiny_data, layers=["conv"], progress=False)
    with pytest.raises(ValueError, match="mode"):
        an.ablate({"conv": [0]}, mode="noise")
    with pytest.raises(ValueError, match=r"0\.\.3"):
        an.ablate({"conv": [9]})
    with pytest.raises(ValueError, match="no layer named 'conv9'"):
        an.ablate({"conv9": [0]})
    with pytest.raises(TypeError, match="integer"):
        an.ablate({"conv": [0.5]})
    with pytest.raises(ValueError, match="not selected"):
        an.ablate({"head": [0]}, mode="mean")  # mean ablation needs the layer's statistics
    assert an.ablate({"head": [0]}).spec == {"head": (0,)}  # zero ablation works on any layer


def test_ablating_the_whole_last_conv_layer_drops_accuracy_to_chance():
    data = load_digits("digits", "test")
    an = Analysis(load_pretrained("digits-cnn"), data, layers=["conv3"], progress=False)
    result = an.ablate({"conv3": range(64)})
    assert result.accuracy_before > 0.95
    chance = np.bincount(data.labels.numpy()).max() / len(data)
    assert result.accuracy_after <= chance + 0.02
    # with every channel gone the prediction no longer depends on the image
    assert len(set(result.logits_after.argmax(1).tolist())) == 1


class UntraceableTinyNet(TinyNet):
    """TinyNet whose forward branches on a value: torch.fx cannot trace it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        h = self.block(h) + h if bool(h.abs().sum() > 0) else h
        t = self.tokens(h.flatten(2).transpose(1, 2))
        return self.head(self.mix(t.transpose(1, 2)).mean(dim=2))


@pytest.mark.parametrize(
    "layer, traceable, widened",
    [("tokens", True, True), ("block.0", True, True), ("tokens", False, True), ("block.0", False, False)],
)
def test_layers_below_the_ablated_one_run_once_per_image_where_the_network_allows(
    tiny_model, tiny_data, monkeypatch, layer, traceable, widened
):
    if not traceable:
        model = UntraceableTinyNet()
        model.load_state_dict(tiny_model.state_dict())
        tiny_model = model.eval()
    an = Analysis(tiny_model, tiny_data, layers=LAYERS, batch_size=64, progress=False)
    specs = [{layer: [i]} for i in range(3)]
    one_by_one = [an.ablate(spec).logits_after for spec in specs]
    sizes = []
    real = an.runner.forward

    def spy(x, hooks=None, stop_after=None, grad=False, copies=1):
        sizes.append(len(x))
        return real(x, hooks, stop_after, grad, copies)

    monkeypatch.setattr(an.runner, "forward", spy)
    together = an.ablate_many(specs)
    for result, expected in zip(together, one_by_one):
        np.testing.assert_allclose(result.logits_after, expected, rtol=1e-5, atol=1e-6)
    # 37 images in pieces of 64 // 3 = 21: the first piece is tried widened (21 images in) and
    # its first 2 images checked against 3 plain copies of them (6); then the second piece goes
    # in once (16). block.0
    # sits under a residual shortcut (``self.block(h) + h``): the model's fx trace repeats h
    # where it meets the wide batch. A model that does not trace runs as it is: there the
    # shortcut cannot add the two, and block.0's second piece goes in as 3 copies (48).
    assert sizes == ([21, 6, 16] if widened else [21, 63, 48])
    # the verdict is kept: the next ablations of that layer are not checked or tried again
    sizes.clear()
    again = an.ablate_many(specs)
    for result, expected in zip(again, one_by_one):
        np.testing.assert_allclose(result.logits_after, expected, rtol=1e-5, atol=1e-6)
    assert sizes == ([21, 16] if widened else [63, 48])


def test_widened_logits_that_disagree_with_plain_copies_are_never_used(tiny_model, tiny_data, monkeypatch):
    """The check on a piece's first images catches a widened forward that is wrong, and
    every piece then goes in as plain copies."""
    from innersight_widgets.engine import _ablation

    an = Analysis(tiny_model, tiny_data, layers=LAYERS, batch_size=64, progress=False)
    specs = [{"tokens": [i]} for i in range(3)]
    one_by_one = [an.ablate(spec).logits_after for spec in specs]
    real = _ablation._widened
    monkeypatch.setattr(_ablation, "_widened", lambda *args: real(*args) + 0.5)
    for _ in range(2):  # the first call finds out, the second keeps the verdict
        for result, expected in zip(an.ablate_many(specs), one_by_one):
            np.testing.assert_allclose(result.logits_after, expected, rtol=1e-5, atol=1e-6)
