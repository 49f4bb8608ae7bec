"""Community fills for every reader: apart from one another for readers with protanopia,
deuteranopia and tritanopia, seen on the light and the dark canvas, and never in the hue
of a colour word that a label uses."""

import colorsys
import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from innersight_widgets.data import COLOURS
from innersight_widgets.widgets.payloads.community_view import (
    GREY_BELOW,
    HUE_APART,
    NAMED_COLOURS,
    WORDLESS,
    community_colours,
)

PRELUDE = (Path(__file__).parents[2] / "js" / "_prelude.js").read_text()
#: The canvas backgrounds of the light and the dark theme, and the fill of a dead neuron.
LIGHT, DARK = re.findall(r"--isw-bg: (#[0-9a-f]{6})", PRELUDE)
DEAD = re.search(r'function colour\(.*?"(#[0-9a-f]{3,6})"', PRELUDE, re.DOTALL).group(1)

#: Machado, Oliveira & Fernandes (2009), "A physiologically-based model for simulation of
#: color vision deficiency", severity 1.0: what a dichromat sees, as a map of linear RGB.
MACHADO = {
    "protanopia": [
        [0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]
    ],
    "deuteranopia": [
        [0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]
    ],
    "tritanopia": [
        [1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]
    ],
}
VISIONS = ("typical", *MACHADO)
#: The least CIEDE2000 difference between two fills shown at once, in every vision: some
#: ten just-noticeable differences (about 1 each), for discs that are not side by side.
APART = 10.0
#: The least contrast of a fill with the canvas: WCAG 2.1's for graphics (SC 1.4.11).
CONTRAST = 3.0


def linear(css: str) -> np.ndarray:
    """Linear RGB (0..1) of "#rgb" or "#rrggbb"."""
    digits = css[1:] if len(css) == 7 else "".join(2 * d for d in css[1:])
    srgb = np.array([int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)])
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def lab(css: str, vision: str = "typical") -> np.ndarray:
    """CIELAB (D65) of ``css`` as a reader with ``vision`` sees it."""
    rgb = linear(css)
    if vision != "typical":
        rgb = np.clip(np.array(MACHADO[vision]) @ rgb, 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ rgb
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> float:
    """The CIEDE2000 colour difference (Sharma, Wu & Dalal 2005), weights 1."""
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    mean_c = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(mean_c**7 / (mean_c**7 + 25**7)))
    a1, a2 = a1 * (1 + g), a2 * (1 + g)
    c1, c2 = np.hypot(a1, b1), np.hypot(a2, b2)
    h1, h2 = np.degrees(np.arctan2(b1, a1)) % 360, np.degrees(np.arctan2(b2, a2)) % 360
    chromatic = c1 * c2 != 0
    dh = (h2 - h1 + 180) % 360 - 180 if chromatic else 0.0
    if not chromatic:
        mean_h = h1 + h2
    elif abs(h1 - h2) <= 180:
        mean_h = (h1 + h2) / 2
    else:
        mean_h = (h1 + h2 + 360) / 2 % 360
    mean_l, mean_c = (l1 + l2) / 2, (c1 + c2) / 2
    t = (
        1 - 0.17 * np.cos(np.radians(mean_h - 30)) + 0.24 * np.cos(np.radians(2 * mean_h))
        + 0.32 * np.cos(np.radians(3 * mean_h + 6)) - 0.20 * np.cos(np.radians(4 * mean_h - 63))
    )
    dl = (l2 - l1) / (1 + 0.015 * (mean_l - 50) ** 2 / np.sqrt(20 + (mean_l - 50) ** 2))
    dc = (c2 - c1) / (1 + 0.045 * mean_c)
    dhh = 2 * np.sqrt(c1 * c2) * np.sin(np.radians(dh / 2)) / (1 + 0.015 * mean_c * t)
    blue_turn = 60 * np.exp(-(((mean_h - 275) / 25) ** 2))
    rotation = -2 * np.sqrt(mean_c**7 / (mean_c**7 + 25**7)) * np.sin(np.radians(blue_turn))
    return float(np.sqrt(dl**2 + dc**2 + dhh**2 + rotation * dc * dhh))


def difference(css1: str, css2: str, vision: str) -> float:
    return ciede2000(lab(css1, vision), lab(css2, vision))


def contrast(css1: str, css2: str) -> float:
    """WCAG contrast ratio of two colours."""
    luminance = np.array([0.2126, 0.7152, 0.0722])
    y1, y2 = sorted((float(luminance @ linear(c)) for c in (css1, css2)), reverse=True)
    return (y1 + 0.05) / (y2 + 0.05)


def closest(fills: list[str], vision: str) -> tuple[float, str, str]:
    """The least difference between two of ``fills`` (and the pair) as ``vision`` sees them."""
    return min((difference(a, b, vision), a, b) for a, b in itertools.combinations(fills, 2))


def hue_and_saturation(css: str) -> tuple[float, float]:
    return colorsys.rgb_to_hsv(*(int(css[i : i + 2], 16) / 255 for i in (1, 3, 5)))[:2]


@pytest.mark.parametrize(
    ("lab1", "lab2", "expected"),
    [  # pairs of Sharma, Wu & Dalal's (2005) test data
        ((50, 2.6772, -79.7751), (50, 0, -82.7485), 2.0425),
        ((50, -1.3802, -84.2814), (50, 0, -82.7485), 1.0000),
        ((50, 2.5, 0), (50, 0, -2.5), 4.3065),
        ((50, 2.5, 0), (73, 25, -18), 27.1492),
        ((50, 2.5, 0), (61, -5, 29), 22.8977),
        ((50, 2.5, 0), (56, -27, -3), 31.9030),
        ((50, 2.5, 0), (58, 24, 15), 19.4535),
        ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
    ],
)
def test_the_colour_difference_gives_the_published_values(lab1, lab2, expected):
    assert ciede2000(np.array(lab1), np.array(lab2)) == pytest.approx(expected, abs=1e-4)


def test_the_simulation_confuses_what_dichromats_confuse():
    """A red and a green, far apart for typical readers, come out alike for deuteranopes;
    protanopes see the red darker (their long-wave cones are missing), tritanopes keep the
    two apart; greys are unchanged for all."""
    red, green = "#e15759", "#59a14f"
    assert difference(red, green, "typical") > 40 and difference(red, green, "tritanopia") > 40
    assert difference(red, green, "deuteranopia") < 2
    assert lab(red, "protanopia")[0] < lab(red)[0] - 5
    for vision in MACHADO:
        assert np.allclose(lab("#777777", vision), lab("#777777"), atol=1e-3)


@pytest.mark.parametrize("vision", VISIONS)
def test_every_two_wordless_fills_and_the_dead_grey_stay_apart(vision):
    gap, a, b = closest([*WORDLESS, DEAD], vision)
    assert gap >= APART, f"{a} and {b} differ by {gap:.2f} for {vision} readers; want >= {APART}"


@pytest.mark.parametrize("vision", VISIONS)
def test_on_the_shapes_data_the_colour_words_and_the_other_fills_stay_apart(vision):
    """The view the shapes dataset gives: communities labelled red, green, blue and yellow,
    and four unlabelled ones, beside dead neurons."""
    fills = community_colours([*COLOURS, None, None, None, None])
    assert fills[:4] == [NAMED_COLOURS[word] for word in COLOURS] and len(set(fills)) == 8
    gap, a, b = closest([*fills, DEAD], vision)
    assert gap >= APART, f"{a} and {b} differ by {gap:.2f} for {vision} readers; want >= {APART}"


@pytest.mark.parametrize("fill", WORDLESS)
def test_each_wordless_fill_stands_out_on_the_light_and_the_dark_canvas(fill):
    for canvas in (LIGHT, DARK):
        assert contrast(fill, canvas) >= CONTRAST, (fill, canvas, contrast(fill, canvas))


WORDS = sorted({w for w, css in NAMED_COLOURS.items() if hue_and_saturation(css)[1] >= GREY_BELOW})
GREYS = ("black", "white", "grey")


@pytest.mark.parametrize(
    "captions", [[w] for w in WORDS] + [list(pair) for pair in itertools.combinations(WORDS, 2)], ids="+".join
)
def test_an_unlabelled_fill_never_takes_the_hue_of_a_colour_word_in_use(captions):
    fills = community_colours(captions + [None] * len(WORDLESS))
    spare = fills[len(captions) :]
    assert set(spare) <= set(WORDLESS)
    for fill in spare:
        h, saturation = hue_and_saturation(fill)
        if saturation < GREY_BELOW:
            continue
        for word in captions:
            gap = abs(h - hue_and_saturation(NAMED_COLOURS[word])[0])
            assert min(gap, 1 - gap) >= HUE_APART, (fill, word)
    assert len(set(spare)) >= (6 if len(captions) == 1 else 4), (captions, spare)  # enough fills left


@pytest.mark.parametrize("word", GREYS)
def test_an_unlabelled_fill_is_no_grey_beside_a_grey_word(word):
    """Beside "grey" (or black, white) no unlabelled disc is grey; only where the labels
    leave no hue free does the grey come back."""
    fills = community_colours([word, "red"] + [None] * len(WORDLESS))
    assert all(hue_and_saturation(f)[1] >= GREY_BELOW for f in fills[2:]), fills
    every_hue = community_colours([*WORDS, word, None])
    assert hue_and_saturation(every_hue[-1])[1] < GREY_BELOW and every_hue[-1] in WORDLESS


def test_without_colour_words_communities_take_the_same_safe_fills_in_turn():
    """Most datasets name no colour: their communities take the eight fills checked above, in
    turn (no larger set stays apart for every reader; the disc's number tells two alike apart)."""
    fills = community_colours([None, "circle", None, "dog", None, None, None, None, None, "cat"])
    assert fills[:8] == list(WORDLESS) and fills[8:] == list(WORDLESS[:2])
