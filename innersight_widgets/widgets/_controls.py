"""The community settings a widget offers: method, its parameter's slider, k neighbours and
minimum correlation. CommunityExplorer and MisclassificationDebugger show the same ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ..innersightnet.aggregation import DEFAULTS, METHOD, PARAMETERS, check_method

# Slider set-up per method, for each of METHOD's methods: (parameter, label, min, max, step).
# The ranges are the useful part of the parameter's declared range (PARAMETERS), inside it.
SLIDERS = {
    "louvain": ("resolution", "resolution γ", 0.1, 5.0, 0.05),
    "leiden": ("resolution", "resolution γ", 0.1, 5.0, 0.05),
    "agglomerative": ("threshold", "distance cut", 0.05, 1.6, 0.01),
    "spectral": ("n_communities", "communities k", 2, 30, 1),
}


class CommunityControls:
    """The method drop-down and its parameter's slider, k neighbours and minimum correlation.

    Parameters
    ----------
    method : str
        The method shown first, one of the aggregation's ``METHOD``.
    on_change : callable
        Called with no argument after any setting changes (a method switch sets the
        slider to that method's range and default first).
    width : str
        CSS width of the parameter's slider.
    """

    def __init__(self, method: str, on_change: Callable[[], None], width: str = "420px") -> None:
        check_method(method)
        wide = {"description_width": "initial"}
        self.method = w.Dropdown(options=list(METHOD.values), value=method, description="method")
        self.parameter = w.FloatSlider(continuous_update=True, style=wide, layout=w.Layout(width=width))
        k = PARAMETERS["k"]
        self.k = w.IntSlider(value=DEFAULTS[method]["k"], min=k.low, max=k.high, description="k neighbours", style=wide)
        self.min_corr = w.FloatSlider(value=0.0, min=0.0, max=0.95, step=0.05, description="min corr", style=wide)
        self._configure(method)
        for control in (self.parameter, self.k, self.min_corr):
            control.observe(lambda _change: on_change(), names="value")

        def switch(change: dict) -> None:
            self._configure(change["new"])
            on_change()

        self.method.observe(switch, names="value")

    @property
    def widgets(self) -> list[w.Widget]:
        """The four controls, to lay out: method, parameter, k, minimum correlation."""
        return [self.method, self.parameter, self.k, self.min_corr]

    def set_disabled(self, disabled: bool) -> None:
        """Grey the controls out (a widget that ranks other units than communities)."""
        for control in self.widgets:
            control.disabled = disabled

    def _configure(self, method: str) -> None:
        """The method's parameter, range and default, sent to the front end as one message
        (separate messages let the browser clamp the new value to the old range)."""
        name, label, low, high, step = SLIDERS[method]
        with self.parameter.hold_sync():
            # widen first so that no intermediate state clamps the value
            self.parameter.min, self.parameter.max = min(low, self.parameter.min), max(high, self.parameter.max)
            self.parameter.step = step
            self.parameter.value = DEFAULTS[method][name]
            self.parameter.min, self.parameter.max = low, high
            self.parameter.description = label
            self.parameter.readout_format = "d" if name == "n_communities" else ".2f"

    def current_params(self) -> dict[str, Any]:
        """The parameters the controls show now, as ``Analysis.communities`` takes them
        (rounded: the browser's slider sends back 1.0000000000000002 for 1.0)."""
        name = SLIDERS[self.method.value][0]
        value = round(self.parameter.value) if name == "n_communities" else round(float(self.parameter.value), 6)
        return {name: value, "k": int(self.k.value), "min_corr": round(float(self.min_corr.value), 6)}

    def describe(self) -> str:
        """The setting in a few words, e.g. ``louvain, resolution γ = 1.00``."""
        name, label, *_ = SLIDERS[self.method.value]
        value = self.current_params()[name]
        return f"{self.method.value}, {label} = {value}" if name == "n_communities" else f"{self.method.value}, {label} = {value:.2f}"
