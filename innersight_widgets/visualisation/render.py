"""Feature visualisation by optimisation: images that maximise a unit's objective
(docs/methods.md, section 9).

Each image is a set of parameters turned into pixels in [0, 1] (the display space): a
Fourier spectrum whose frequencies are scaled down as 1 / f^decay, in a colour space
decorrelated with the probe images' colour covariance, through a sigmoid. Every step
rolls, scales and rotates the images at random before the model sees them (so that only
patterns that survive small moves are rewarded), normalises them as the probe images are,
and takes one Adam step up the objective, for every unit and image of the batch at once.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from .._png import THUMBNAIL_SIZE, to_png
from .._progress import bar as progress_bar
from .._validation import Interval, validate_params
from ..data import ImageFolder
from ..engine import Cancelled, chunks, neurons_first
from .objectives import Objective, UnitLike, objective_of

if TYPE_CHECKING:
    from ..engine import Probe

#: Probe images whose pixels give the colour covariance and the check of the normalisation.
COLOUR_SAMPLE = 64
#: The loss is multiplied by this under fp16 autocast, so that small gradients do not
#: underflow; Adam's steps do not depend on it.
FP16_LOSS_SCALE = 1024.0
#: Initial spread of the parameters: the images start as near-grey noise.
INIT_SPREAD = 0.01
#: A visualisation in progress is shown (``on_partial``) after every this many steps.
PARTIAL_EVERY = 32
#: What the views (the widgets' panels, ``to_html(visualise=True)``) ask for: few images,
#: so that a click shows them in seconds, and the same ones everywhere, so that one is
#: computed once per analysis.
VIEW_SETTINGS = {"images": 2, "steps": 256}
#: Divides the image the Fourier spectrum gives, so that Adam's steps of ``learning_rate``
#: move pixels by a comparable amount whatever the image size.
SPECTRUM_DIVISOR = 4.0

#: ``visualise``'s declared constraints.
CONSTRAINTS = {
    "images": Interval(int, 1, meaning="images per unit"),
    "steps": Interval(int, 1, meaning="optimisation steps"),
    "size": Interval(int, 8, none=True, meaning="the side of the square images in pixels; None: the model's input size"),
    "learning_rate": Interval(float, 0, closed="neither", meaning="Adam's step size"),
    "jitter": Interval(float, 0, 0.5, meaning="the largest random shift per step, as a share of the image side"),
    "scale": Interval(float, 0, 1, closed="left", meaning="the largest random zoom per step: 1 +- scale"),
    "rotate": Interval(float, 0, 180, meaning="the largest random rotation per step, in degrees"),
    "decay": Interval(float, 0, meaning="how fast the spectrum's frequencies are damped: 1 / f^decay"),
    "diversity": Interval(float, 0, meaning="weight of the penalty on alike images of one unit"),
    "seed": Interval(int, 0, meaning="the seed of the start and of the random moves"),
}

__all__ = ["CONSTRAINTS", "PARTIAL_EVERY", "VIEW_SETTINGS", "Visualisation", "unit_objective", "visualise"]


@dataclass(frozen=True, eq=False)
class Visualisation:
    """Images that maximise one unit's objective. Made by :func:`visualise`.

    Parameters
    ----------
    unit : str
        The unit in words (``"layer3 community 2"``, ``"layer2:17"``, ``"logit 'star'"``, ...).
    kind : {"community", "unit", "group", "neuron", "logit"}
        Which kind of unit it is.
    images : np.ndarray
        n x C x H x W float32 in [0, 1]: the images in display space (before the probe
        images' normalisation), ready to show.
    objective : np.ndarray
        steps x n: the objective of each image at each step, on the moved image the model
        saw at that step.
    final : np.ndarray
        n: the objective of each image as it is returned (no move).
    settings : dict
        The arguments that made it: ``images``, ``steps``, ``size`` ((H, W)),
        ``learning_rate``, ``jitter``, ``scale``, ``rotate``, ``decorrelate``, ``fft``,
        ``decay``, ``diversity``, ``seed``, ``mean`` and ``std`` (the normalisation, per
        channel), ``precision`` and ``device``.
    """

    unit: str
    kind: str
    images: np.ndarray = field(repr=False)
    objective: np.ndarray = field(repr=False)
    final: np.ndarray = field(repr=False)
    settings: dict[str, Any] = field(repr=False)

    def __repr__(self) -> str:
        n, _, h, w = self.images.shape
        spread = f" (images {self.final.min():.3g}..{self.final.max():.3g})" if n > 1 else ""
        return (
            f"Visualisation({self.unit}: {n} image{'s' if n > 1 else ''} {h}x{w}, {self.settings['steps']} steps, "
            f"objective {self.final.mean():.3g}{spread})"
        )

    def inputs(self) -> torch.Tensor:
        """The images as the model takes them: normalised with the probe images' mean and std.

        Returns
        -------
        torch.Tensor
            n x C x H x W float32, for :func:`unit_objective` or the analysis's model.
        """
        mean, std = (torch.tensor(self.settings[k], dtype=torch.float32).view(1, -1, 1, 1) for k in ("mean", "std"))
        return (torch.from_numpy(self.images) - mean) / std

    def to_png(self, image: int = 0, size: int = THUMBNAIL_SIZE) -> bytes:
        """One image as PNG bytes, the thumbnails' format of the widgets and reports.

        Parameters
        ----------
        image : int
            Which of the n images.
        size : int
            Width in pixels (scaled with nearest-neighbour sampling).

        Returns
        -------
        bytes
            The PNG file.
        """
        if not Interval(int, 0, len(self.images) - 1).accepts(image):
            raise ValueError(f"image must be an index in 0..{len(self.images) - 1}, got {image!r}")
        return to_png(torch.from_numpy(self.images[int(image)]), size=size)


@validate_params(CONSTRAINTS)
def visualise(
    analysis: Probe,
    unit: UnitLike | list[UnitLike],
    *,
    images: int = 4,
    steps: int = 256,
    size: int | None = None,
    learning_rate: float = 0.05,
    jitter: float = 0.06,
    scale: float = 0.1,
    rotate: float = 10.0,
    decorrelate: bool = True,
    fft: bool = True,
    decay: float = 1.0,
    diversity: float = 0.0,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    seed: int = 0,
    should_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_partial: Callable[[Visualisation | list[Visualisation]], None] | None = None,
) -> Visualisation | list[Visualisation]:
    """Images that maximise what a unit responds to (feature visualisation).

    ``images`` images per unit start as near-grey noise and climb the unit's objective
    for ``steps`` Adam steps. Each image is parametrised as a Fourier spectrum damped as
    1 / f^``decay`` (``fft``), in colours decorrelated with the probe images' colour
    covariance (``decorrelate``), through a sigmoid into [0, 1]; at every step all images
    are rolled by up to ``jitter`` of their side, zoomed by up to 1 +- ``scale`` and
    rotated by up to ``rotate`` degrees at random, then normalised as the probe images
    are. All units and images go through one forward and one backward per step, through
    the analysis's runner (its device and precision).

    A finished visualisation is kept with the analysis: the same units (by what their
    objectives compute, whatever they are called) with the same arguments are given back
    at once, not optimised again (another ``seed`` gives other images).

    Parameters
    ----------
    analysis : Analysis
        The analysis of the model; communities and debugger units use its probe
        statistics, and its probe images give the colour covariance and the input size.
    unit : unit or list of units
        What to maximise (a list: several units, batched together):

        - ``(communities, c)``: community ``c``'s score, the mean of its members'
          z-scored profiles, as the communities report ranks images by;
        - a debugger ``Unit``: the mean z-scored profile of its neurons;
        - a circuit group, or ``(circuit, group_id)``: the circuit's log-barrier score of
          the group over its concept space;
        - ``(layer, neuron)``: the neuron's activation averaged over its map (any layer
          of the model), or ``(layer, neuron, (y, x))``: at one position of its map;
        - a class name, or ``("logit", class)`` with an index or a name: the class's logit.
    images : int
        Images per unit, each from its own random start.
    steps : int
        Optimisation steps.
    size : int, optional
        Side of the square images; default the probe images' H x W (needed with a position).
    learning_rate : float
        Adam's step size.
    jitter : float
        The largest random roll per step, as a share of the side (0.06: 4 px at 64 px).
    scale : float
        The largest random zoom per step: a factor in [1 - scale, 1 + scale].
    rotate : float
        The largest random rotation per step, in degrees.
    decorrelate : bool
        Parametrise colours in the probe images' decorrelated colour space (else RGB).
    fft : bool
        Parametrise the images by their Fourier spectrum (else by their pixels).
    decay : float
        With ``fft``: frequency f's amplitude is scaled by 1 / max(f, 1 / side)^decay.
    diversity : float
        Weight of a penalty on the mean cosine similarity between the Gram matrices of one
        unit's images at its layer (for a logit: the analysis's last selected layer); 0
        leaves the images independent.
    mean, std : sequence of floats, optional
        The per-channel normalisation the model expects, ``(pixel - mean) / std``;
        default an image folder's own, else none (pixels in [0, 1]).
    seed : int
        Seeds the start and the moves: the same call gives the same images (on the CPU).
    should_stop : callable, optional
        Asked before each step; True ends the work with ``Cancelled``.
    on_progress : callable, optional
        ``on_progress(done, steps)`` after each step.
    on_partial : callable, optional
        ``on_partial(so_far)`` after every ``PARTIAL_EVERY`` steps but the last, with what
        the call would return if it ended there (``objective`` has the rows done so far;
        ``settings["steps"]`` is still the steps asked for): a view draws it meanwhile.

    Returns
    -------
    Visualisation or list of Visualisation
        One per unit, in the order given (a list for a list).

    Raises
    ------
    TypeError
        If a unit is none of the forms above.
    ValueError
        If a unit names a layer, neuron, community, group, position or class the analysis
        lacks, an argument is out of range, or the probe images, mapped back with the
        normalisation, do not lie in [0, 1] (give ``mean`` and ``std``).
    Cancelled
        When ``should_stop`` says so.

    Warns
    -----
    UserWarning
        For a unit whose objective never moved (silent on the start images: no gradient).
    """
    many = isinstance(unit, list)
    objectives = [objective_of(analysis, u) for u in (unit if many else [unit])]
    if not objectives:
        raise ValueError("unit is an empty list; give at least one unit")
    channels, in_h, in_w = analysis.data.image_shape[-3:]
    shape = (in_h, in_w) if size is None else (size, size)
    if shape != (in_h, in_w) and any(o.at_input_size for o in objectives):
        raise ValueError(f"a neuron's position is on its map at the model's input size {in_h}x{in_w}; leave size out")
    offset, spread, colours = _colour_space(analysis, mean, std, bool(decorrelate))
    offset, spread, colours = (t.to(analysis.device) for t in (offset, spread, colours))
    n, device = images, analysis.device
    settings = {
        "images": n, "steps": steps, "size": shape, "learning_rate": learning_rate, "jitter": jitter, "scale": scale,
        "rotate": rotate, "decorrelate": bool(decorrelate), "fft": bool(fft), "decay": decay, "diversity": diversity,
        "seed": seed, "mean": tuple(offset.view(-1).tolist()), "std": tuple(spread.view(-1).tolist()),
        "precision": analysis.runner.precision, "device": str(device),
    }
    kept = analysis.memo("visualisations", None, dict)
    key = (tuple(o.key for o in objectives), tuple(sorted(settings.items())))
    if key not in kept:
        kept[key] = _optimise(analysis, objectives, settings, colours, should_stop, on_progress, on_partial)
    found = [replace(v, unit=o.name) for v, o in zip(kept[key], objectives)]
    return found if many else found[0]


def _optimise(
    analysis: Probe,
    objectives: list[Objective],
    settings: dict[str, Any],
    colours: torch.Tensor,
    should_stop: Callable[[], bool] | None,
    on_progress: Callable[[int, int], None] | None,
    on_partial: Callable[[Visualisation | list[Visualisation]], None] | None,
) -> list[Visualisation]:
    """The optimisation :func:`visualise` describes, for ``settings`` (checked), one
    :class:`Visualisation` per objective."""
    n, steps, shape, device = settings["images"], settings["steps"], settings["size"], analysis.device
    channels = analysis.data.image_shape[-3]
    offset, spread = (torch.tensor(settings[k], device=device).view(1, -1, 1, 1) for k in ("mean", "std"))
    generator = torch.Generator().manual_seed(settings["seed"])
    canvas = _Canvas(len(objectives) * n, channels, shape, colours, settings["fft"], settings["decay"], generator, device)
    diversity = settings["diversity"]
    reader = _Reader(analysis, objectives, n, diversity > 0 and n > 1)
    optimiser = torch.optim.Adam([canvas.parameters], lr=settings["learning_rate"])
    loss_scale = FP16_LOSS_SCALE if analysis.runner.precision == "fp16" else 1.0
    shift = round(settings["jitter"] * max(shape))
    many = len(objectives) > 1

    def results(history: list[torch.Tensor]) -> list[Visualisation]:
        with torch.no_grad():
            pixels = canvas.pixels()
            final, _ = reader((pixels - offset) / spread, grad=False)
        pixels, final = pixels.float().cpu().numpy(), final.float().cpu().numpy()
        rows = torch.stack(history).float().cpu().numpy()
        return [
            Visualisation(o.name, o.kind, pixels[u * n:(u + 1) * n], rows[:, u * n:(u + 1) * n],
                          final[u * n:(u + 1) * n], dict(settings))
            for u, o in enumerate(objectives)
        ]

    history = []
    with progress_bar(total=steps, desc="visualise", unit="step", disable=not analysis.progress) as bar:
        for step in range(steps):
            if should_stop is not None and should_stop():
                raise Cancelled("visualisation stopped: a newer request replaced it")
            with torch.enable_grad():
                moved = _move(canvas.pixels(), generator, shift, settings["scale"], settings["rotate"])
                values, penalty = reader((moved - offset) / spread, grad=True)
                loss = (diversity * penalty - values.sum()) * loss_scale
                (canvas.parameters.grad,) = torch.autograd.grad(loss, [canvas.parameters])
            optimiser.step()
            history.append(values.detach())
            bar.update(1)
            if on_progress is not None:
                on_progress(step + 1, steps)
            if on_partial is not None and (step + 1) % PARTIAL_EVERY == 0 and step + 1 < steps:
                so_far = results(history)
                on_partial(so_far if many else so_far[0])
    found = results(history)
    for v, o in zip(found, objectives):
        if np.ptp(np.concatenate([v.objective.ravel(), v.final])) == 0:
            warnings.warn(
                f"the objective of {o.name} never moved from {v.objective[0, 0]:.3g}: the unit is silent on the "
                "near-grey start images, so it gives no gradient; try another seed, or a unit that responds",
                stacklevel=4,  # past visualise and validate_params' wrapper
            )
    return found


def unit_objective(analysis: Probe, unit: UnitLike, images: torch.Tensor | np.ndarray) -> np.ndarray:
    """A unit's objective on given images: what :func:`visualise` maximises.

    Parameters
    ----------
    analysis : Analysis
        The analysis the unit belongs to.
    unit : unit
        Any unit :func:`visualise` takes.
    images : Tensor or np.ndarray
        k x C x H x W, as the model takes them (normalised, as probe images are; a
        visualisation's :meth:`Visualisation.inputs`).

    Returns
    -------
    np.ndarray
        k float32 values; for a community, its score on each image in the units of the
        communities report's ``scores``.
    """
    reader = _Reader(analysis, [objective_of(analysis, unit)], None, False)
    x = torch.as_tensor(images, dtype=torch.float32)
    if x.ndim != 4:
        raise ValueError(f"images must be k x C x H x W, got shape {tuple(x.shape)}")
    out = [reader(x[rows], grad=False)[0].float().cpu() for rows in chunks(len(x), analysis.batch_size)]
    return torch.cat(out).numpy() if out else np.zeros(0, np.float32)


# ------------------------------------------------------------------- internals
class _Canvas:
    """The parameters of B images and the map from them to pixels in [0, 1]."""

    def __init__(
        self, count: int, channels: int, shape: tuple[int, int], colours: torch.Tensor, fft: bool, decay: float,
        generator: torch.Generator, device: torch.device,
    ) -> None:
        h, w = shape
        self.shape, self.colours, self.fft = shape, colours.to(device), fft
        if fft:
            frequency = torch.sqrt(torch.fft.fftfreq(h)[:, None] ** 2 + torch.fft.rfftfreq(w)[None, :] ** 2)
            self.damping = (1.0 / frequency.clamp(min=1.0 / max(h, w)) ** decay).to(device)
            start = torch.randn(count, channels, h, w // 2 + 1, 2, generator=generator)
        else:
            start = torch.randn(count, channels, h, w, generator=generator)
        self.parameters = (start * INIT_SPREAD).to(device).requires_grad_(True)

    def pixels(self) -> torch.Tensor:
        """B x C x H x W in [0, 1]."""
        if self.fft:
            spectrum = torch.view_as_complex(self.parameters) * self.damping
            raw = torch.fft.irfft2(spectrum, s=self.shape, norm="ortho") / SPECTRUM_DIVISOR
        else:
            raw = self.parameters
        return torch.sigmoid(torch.einsum("ij,bjhw->bihw", self.colours, raw))


def _move(x: torch.Tensor, generator: torch.Generator, shift: int, scale: float, rotate: float) -> torch.Tensor:
    """``x`` rolled by one random (dy, dx) in -shift..shift, then each image zoomed by a
    random factor in [1 - scale, 1 + scale] and rotated by a random angle in +-rotate
    degrees (bilinear, edges reflected)."""
    if shift:
        dy, dx = torch.randint(-shift, shift + 1, (2,), generator=generator).tolist()
        x = torch.roll(x, (dy, dx), (2, 3))
    if not scale and not rotate:
        return x
    b, _, h, w = x.shape
    zoom = 1 + (torch.rand(b, generator=generator) * 2 - 1) * scale
    angle = (torch.rand(b, generator=generator) * 2 - 1) * math.radians(rotate)
    cos, sin, aspect = torch.cos(angle) / zoom, torch.sin(angle) / zoom, h / w
    zero = torch.zeros(b)
    # a rotation in pixels, written in affine_grid's coordinates (each side from -1 to 1)
    theta = torch.stack([torch.stack([cos, -sin * aspect, zero], 1), torch.stack([sin / aspect, cos, zero], 1)], 1)
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


class _Reader:
    """One forward of a batch through the runner, hooked on the layers the objectives read:
    each unit's objective on its rows, and the diversity penalty."""

    def __init__(self, analysis: Probe, objectives: list[Objective], rows: int | None, diverse: bool) -> None:
        self.analysis, self.objectives, self.rows, self.diverse = analysis, objectives, rows, diverse
        order = [info.name for info in analysis.available_layers()]
        needed = {layer for o in objectives for layer in o.layers} | ({o.home for o in objectives} if diverse else set())
        self.layers = sorted(needed, key=order.index)
        logits = any(o.reads_logits for o in objectives)
        self.stop_after = None if logits or not self.layers else self.layers[-1]

    def __call__(self, x: torch.Tensor, grad: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(B objective values, the summed diversity penalty) for model inputs ``x``; with
        ``rows`` None, every row is the one objective's."""
        captured: dict[str, torch.Tensor] = {}

        def keep(layer: str) -> Callable[[torch.Tensor], None]:
            def hook(output: torch.Tensor) -> None:
                captured[layer] = output

            return hook

        out = self.analysis.runner.forward(x, {layer: keep(layer) for layer in self.layers}, self.stop_after, grad=grad)
        logits = None if self.stop_after is not None else out
        values, penalty = [], torch.zeros((), device=self.analysis.device)
        n = self.rows or len(x)
        for u, objective in enumerate(self.objectives):
            rows = slice(u * n, (u + 1) * n)
            values.append(objective.value(
                {layer: captured[layer][rows] for layer in objective.layers}, None if logits is None else logits[rows]
            ))
            if self.diverse:
                penalty = penalty + _alike(neurons_first(captured[objective.home][rows], self.analysis.layer_info(objective.home)))
        return torch.cat(values), penalty


def _alike(features: torch.Tensor) -> torch.Tensor:
    """The mean cosine similarity between the Gram matrices (C x C, over positions) of
    every pair of the n images in ``features`` (n x C x P)."""
    n = len(features)
    gram = (features @ features.transpose(1, 2) / features.shape[2]).reshape(n, -1)
    gram = F.normalize(gram, dim=1)
    similarity = gram @ gram.T
    return (similarity.sum() - similarity.diagonal().sum()) / (n * (n - 1))


def _colour_space(
    analysis: Probe, mean: Sequence[float] | None, std: Sequence[float] | None, decorrelate: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean, std) as 1 x C x 1 x 1 tensors, and the C x C matrix from the parameters'
    colours to pixel colours: the square root of the probe pixels' colour covariance,
    scaled so that its longest column has length 1 (the identity without ``decorrelate``).
    Checks that the probe images, mapped back, lie in [0, 1]. Kept with the analysis."""
    channels = analysis.data.image_shape[0]
    offset, spread = _normalisation(analysis, mean, std, channels)
    key = (tuple(offset.tolist()), tuple(spread.tolist()), decorrelate)
    return analysis.memo("visualisation colours", key, lambda: _measured_colours(analysis, offset, spread, decorrelate))


def _measured_colours(
    analysis: Probe, offset: torch.Tensor, spread: torch.Tensor, decorrelate: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What :func:`_colour_space` keeps, measured on a sample of the probe images."""
    channels = len(offset)
    count = len(analysis.data)
    sample = analysis.images(np.unique(np.linspace(0, count - 1, min(COLOUR_SAMPLE, count)).round().astype(int)))
    pixels = (sample.double() * spread.view(1, -1, 1, 1) + offset.view(1, -1, 1, 1)).transpose(0, 1).reshape(channels, -1)
    low, high = float(pixels.min()), float(pixels.max())
    if low < -0.02 or high > 1.02:
        raise ValueError(
            f"the probe images, mapped back with mean={tuple(offset.tolist())} and std={tuple(spread.tolist())}, "
            f"lie in [{low:.2f}, {high:.2f}], not in [0, 1]: give the normalisation the model was trained with as "
            "mean=[...] and std=[...] (one value per channel), so that a visualisation reaches the model as the "
            "probe images do"
        )
    colours = torch.eye(channels, dtype=torch.float64)
    if decorrelate and channels > 1:
        covariance = torch.cov(pixels)
        covariance += torch.eye(channels, dtype=torch.float64) * 1e-2 * covariance.trace() / channels
        values, vectors = torch.linalg.eigh(covariance)
        root = vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T
        colours = root / root.norm(dim=0).max()
    return offset.float().view(1, -1, 1, 1), spread.float().view(1, -1, 1, 1), colours.float()


def _normalisation(
    analysis: Probe, mean: Sequence[float] | None, std: Sequence[float] | None, channels: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-channel (mean, std), float64: the given ones, else an image folder's, else (0, 1)."""
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std (the normalisation the model was trained with), or neither")
    if mean is None:
        source = analysis.data.source
        if isinstance(source, ImageFolder) and source.mean is not None:
            mean, std = source.mean, source.std
        else:
            mean, std = [0.0] * channels, [1.0] * channels
    values = []
    for name, given in (("mean", mean), ("std", std)):
        try:
            t = torch.tensor([float(v) for v in given], dtype=torch.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{name} must be {channels} numbers, one per channel, got {given!r}") from error
        if len(t) != channels or not torch.isfinite(t).all() or (name == "std" and (t <= 0).any()):
            raise ValueError(
                f"{name} must be {channels} finite{' positive' if name == 'std' else ''} numbers, one per channel, "
                f"got {given!r}"
            )
        values.append(t)
    return values[0], values[1]
