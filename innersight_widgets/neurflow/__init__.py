"""NeurFlow: the circuit of a class, groups of the neurons that matter most to it and the
flow between them, layer by layer (docs/methods.md, section 4). Takes from the engine only
what :class:`innersight_widgets.engine.Probe` offers, and its Integrated Gradients."""

from .circuits import Circuit, Group, barrier_score, build_circuit

__all__ = ["Circuit", "Group", "barrier_score", "build_circuit"]
