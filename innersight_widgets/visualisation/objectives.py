"""What a visualisation maximises: each kind of unit's objective as a differentiable
function of the layer outputs one forward pass gives (docs/methods.md, section 9).

A unit is one of

- a community, ``(communities, c)``: its community score, the mean over its members of
  their z-scored profiles (the score :class:`~innersight_widgets.CommunityReport` ranks
  images by), with the probe images' means and standard deviations;
- a :class:`~innersight_widgets.Unit` (a unit of the debugger): the same mean z-score
  over its neurons;
- a circuit group, ``(circuit, group_id)`` or the group itself: the log-barrier score
  with which the circuit says a crop shows the group;
- a neuron, ``(layer, neuron)`` or ``(layer, neuron, (y, x))``: its activation averaged
  over space, or at one position of its map;
- a class, its name or ``("logit", class)``: its logit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..debugging import Unit
from ..engine import neurons_first, pooled
from ..innersightnet import Communities, aggregator, standardisation
from ..neurflow import Circuit, Group, barrier_score

if TYPE_CHECKING:
    from ..engine import LayerInfo, Probe

#: What ``visualise`` takes as one unit (see the module's docstring).
UnitLike = (
    tuple[Communities, int] | Unit | Group | tuple[Circuit, str] | tuple[str, int] | tuple[str, int, tuple[int, int]]
    | str | tuple[str, int | str]
)
#: The pseudo-layer that names a class's logit, as a circuit names its top level.
LOGIT = "logit"

__all__ = ["LOGIT", "Objective", "UnitLike", "objective_of"]


@dataclass(frozen=True, eq=False)
class Objective:
    """One unit's objective, ready to be read from a forward pass.

    Parameters
    ----------
    name : str
        The unit in words: ``"layer3 community 2"``, ``"layer2:17"``, ``"layer2:17 at (3, 4)"``,
        ``"group layer2/g0"``, ``"logit 'star'"``, or a debugger unit's own name.
    kind : {"community", "unit", "group", "neuron", "logit"}
        Which kind of unit it is.
    layers : tuple of str
        The layers whose outputs it reads, in model order (empty for a logit).
    reads_logits : bool
        Whether it reads the model's logits (the forward then runs to the end).
    home : str
        The layer whose features the diversity term compares: the unit's (lowest) layer,
        or for a logit the analysis's last selected layer.
    at_input_size : bool
        Whether it reads one position of a map, which is laid out for images of the
        model's input size.
    value : callable
        ``value(outputs, logits)``: B objective values (fp32) from ``outputs`` (layer ->
        B x ... output) and the B x K logits (None when not read).
    key : tuple
        What the objective computes, by content (the neurons it reads, a group's concept
        space, a class index), whatever the unit was called: two units with one key have
        one objective, so a visualisation made for one serves the other.
    """

    name: str
    kind: str
    layers: tuple[str, ...]
    reads_logits: bool
    home: str
    at_input_size: bool
    value: Callable[[Mapping[str, torch.Tensor], torch.Tensor | None], torch.Tensor]
    key: tuple

    def __repr__(self) -> str:
        return f"Objective({self.name!r}, kind={self.kind!r})"


def objective_of(analysis: Probe, unit: UnitLike) -> Objective:
    """The objective of ``unit`` on ``analysis``'s model, checked.

    Parameters
    ----------
    analysis : Analysis
        The analysis whose model, probe statistics and layers the unit refers to.
    unit : UnitLike
        One unit, in any of the forms the module's docstring lists.

    Returns
    -------
    Objective
        Its name, the layers it reads and its value as a function of their outputs.

    Raises
    ------
    TypeError
        If ``unit`` is none of the forms.
    ValueError
        If it names a layer, neuron, community, group, position or class the analysis
        does not have; the message lists the ones it has.
    """
    if isinstance(unit, Unit):
        return _neuron_set(analysis, unit.name, "unit", analysis.ablation_spec(unit.spec, "mean"))
    if isinstance(unit, Group):
        return _group(analysis, unit)
    if isinstance(unit, str):
        return _logit(analysis, unit)
    if isinstance(unit, tuple) and len(unit) == 2 and isinstance(unit[0], Communities):
        return _community(analysis, *unit)
    if isinstance(unit, tuple) and len(unit) == 2 and isinstance(unit[0], Circuit):
        return _group(analysis, _group_of(*unit))
    if isinstance(unit, tuple) and len(unit) == 2 and unit[0] == LOGIT:
        return _logit(analysis, unit[1])
    if isinstance(unit, tuple) and len(unit) in (2, 3) and isinstance(unit[0], str):
        return _neuron(analysis, *unit)
    raise TypeError(
        "a unit is (communities, c), a debugger Unit, a circuit group or (circuit, group_id), (layer, neuron), "
        f"(layer, neuron, (y, x)), a class name or ('logit', class); got {_shown(unit)}"
    )


# ------------------------------------------------------------------- kinds
def _community(analysis: Probe, communities: Communities, community: Any) -> Objective:
    c = communities.check_community(community)
    if aggregator(analysis, communities.layers).neurons.neurons != communities.neurons:
        raise ValueError(
            f"these communities (of {', '.join(communities.layers)}) were made by another analysis or for other "
            "layers; make them with this analysis's an.communities(...)"
        )
    return _neuron_set(
        analysis, f"{'+'.join(communities.layers)} community {c}", "community",
        {layer: tuple(neurons) for layer, neurons in communities.spec(c).items()},
    )


def _neuron_set(analysis: Probe, name: str, kind: str, spec: Mapping[str, tuple[int, ...]]) -> Objective:
    """The mean over the neurons of ``spec`` of their profiles z-scored with the probe
    images' mean and standard deviation; a neuron constant over the probe images counts 0,
    as it does in the community score."""
    spec = {layer: neurons for layer, neurons in spec.items() if neurons}
    if not spec:
        raise ValueError(f"unit {name!r} has no neurons; give a unit with at least one neuron")
    layers = tuple(analysis.ordered_layers(list(spec)))
    count = sum(len(v) for v in spec.values())
    infos = {layer: analysis.selected(layer) for layer in layers}
    # per layer: member indices, the mean each is offset by, and its weight ~dead / (std * count)
    terms = {}
    for layer in layers:
        members = list(spec[layer])
        profiles = torch.as_tensor(np.asarray(analysis.profiles(layer)[:, members]), dtype=torch.float32)
        mean, std, dead = standardisation(profiles)
        terms[layer] = (
            torch.as_tensor(members, device=analysis.device),
            mean.to(analysis.device),
            torch.where(dead, 0.0, 1.0 / (std * count)).to(analysis.device),
        )
    how = analysis.pooling

    def value(outputs: Mapping[str, torch.Tensor], _logits: torch.Tensor | None) -> torch.Tensor:
        total = 0.0
        for layer, (members, mean, weight) in terms.items():
            total = total + ((pooled(outputs[layer], infos[layer], how)[:, members] - mean) * weight).sum(1)
        return total

    key = ("neurons", tuple((layer, tuple(sorted(int(n) for n in spec[layer]))) for layer in layers))
    return Objective(name, kind, layers, False, layers[0], False, value, key)


def _group_of(circuit: Circuit, group_id: Any) -> Group:
    for group in circuit.groups:
        if group.id == group_id:
            return group
    ids = ", ".join(g.id for g in circuit.groups)
    raise ValueError(f"the circuit of {circuit.class_name!r} has no group {group_id!r}; its groups are {ids}")


def _group(analysis: Probe, group: Group) -> Objective:
    """The circuit's log-barrier score of the group: mean over its concept space of
    log(max(a, 0) / |vector| + eps), a the space layer's spatially averaged activations."""
    info = analysis.layer_info(group.space_layer)
    space = torch.as_tensor(group.space, device=analysis.device)
    if space.numel() and int(space.max()) >= info.num_neurons:
        raise ValueError(
            f"group {group.id!r} reads neurons up to {int(space.max())} of {info.name!r}, which has "
            f"{info.num_neurons}: it belongs to another model's circuit"
        )
    centre = torch.as_tensor(np.asarray(group.vector), dtype=torch.float32, device=analysis.device)

    def value(outputs: Mapping[str, torch.Tensor], _logits: torch.Tensor | None) -> torch.Tensor:
        return barrier_score(pooled(outputs[info.name], info)[:, space], centre)

    key = ("group", info.name, tuple(int(n) for n in group.space), tuple(float(v) for v in group.vector))
    return Objective(f"group {group.id}", "group", (info.name,), False, info.name, False, value, key)


def _neuron(analysis: Probe, layer: str, neuron: Any, position: Any = None) -> Objective:
    info = analysis.layer_info(layer)
    n = analysis.check_neuron(info, neuron)
    name = f"{layer}:{n}"
    if position is None:

        def value(outputs: Mapping[str, torch.Tensor], _logits: torch.Tensor | None) -> torch.Tensor:
            return neurons_first(outputs[layer], info)[:, n].mean(1)

        return Objective(name, "neuron", (layer,), False, layer, False, value, ("neuron", layer, n))
    at = _position(info, position)

    def value_at(outputs: Mapping[str, torch.Tensor], _logits: torch.Tensor | None) -> torch.Tensor:
        return neurons_first(outputs[layer], info)[:, n, at]

    return Objective(
        f"{name} at {tuple(int(p) for p in position)}", "neuron", (layer,), False, layer, True, value_at, ("neuron", layer, n, at)
    )


def _position(info: LayerInfo, position: Any) -> int:
    """The flat index of (y, x) on ``info``'s 2-D map, checked."""
    grid = info.spatial_shape
    if len(grid) != 2:
        raise ValueError(
            f"a position (y, x) needs a 2-D map, and layer {info.name!r} has "
            f"{'none' if not grid else f'a 1-D one of {grid[0]} positions'}; leave the position out"
        )
    ok = isinstance(position, (tuple, list)) and len(position) == 2 and all(
        isinstance(p, (int, np.integer)) and not isinstance(p, bool) and 0 <= p < s for p, s in zip(position, grid)
    )
    if not ok:
        raise ValueError(
            f"position must be (y, x) with y in 0..{grid[0] - 1} and x in 0..{grid[1] - 1} (the map of "
            f"{info.name!r} at the model's input size), got {position!r}"
        )
    return int(position[0]) * grid[1] + int(position[1])


def _logit(analysis: Probe, target: Any) -> Objective:
    c = analysis.class_index(target)
    home = analysis.layers[-1]

    def value(_outputs: Mapping[str, torch.Tensor], logits: torch.Tensor | None) -> torch.Tensor:
        return logits[:, c].float()

    return Objective(f"logit {analysis.data.class_names[c]!r}", "logit", (), True, home, False, value, ("logit", c))


def _shown(unit: Any) -> str:
    """A short account of a value that is no unit."""
    if isinstance(unit, tuple):
        return "a tuple of " + ", ".join(type(u).__name__ for u in unit)
    return type(unit).__name__
