"""A record checks its fields against their type hints, down to nested records, list elements
and packed bytes, and names the record and the path of what is wrong; the codec packs arrays
little-endian without wrapping around, and pictures as PNGs by name."""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, replace

import numpy as np
import pytest
import torch
import traitlets
from PIL import Image

from innersight_widgets.widgets.community_explorer import CommunityView
from innersight_widgets.widgets.payloads import Payload, schema
from innersight_widgets.widgets.payloads._codec import Packed
from innersight_widgets.widgets.payloads._records import thumbnails
from innersight_widgets.widgets.payloads.community_view import (
    COMMUNITY,
    LINKS,
    STRENGTH,
    XY,
    CommunityDetails,
    CommunityGraph,
    ConceptBadge,
    ImportanceSummary,
    NeuronPoints,
    PathwayClass,
    TopImage,
)


def details(**changes) -> CommunityDetails:
    """A valid CommunityDetails, with ``changes``."""
    badge = ConceptBadge("colour", "red", 0.9)
    fields = {
        "owner": "partition 1 community 0", "community": 0, "size": 3, "label": badge, "concepts": [badge, badge, badge],
        "members": ["layer1:0", "layer1:4", "layer1:7"], "within": 0.5, "outside": None, "classes": ["a", "b"],
        "class_means": [0.1, -0.2], "classes_of": 2, "selectivity": 0.3, "ranking": "specific",
        "ranking_text": "specific score", "images": [TopImage(4, "a", "b", 1.5, "image4")],
        "patches": [], "importance": None,
    }
    return CommunityDetails(**(fields | changes))


def points(**changes) -> NeuronPoints:
    """Two neurons and one link, packed, with ``changes``."""
    fields = {
        "count": 2, "layers": ["layer1"], "starts": [0], "xy": XY.pack(np.array([[0, 0], [65535, 65535]])),
        "community": COMMUNITY.pack(np.array([0, -1])), "links": LINKS.pack(np.array([[0, 1]])),
        "strength": STRENGTH.pack(np.array([255])), "links_of": 1,
    }
    return NeuronPoints(**(fields | changes))


def test_a_record_checks_each_field_against_its_type_hint():
    with pytest.raises(TypeError, match=r"^ConceptBadge\.auroc: expected float, got str '0\.9'$"):
        ConceptBadge("colour", "red", "0.9")
    assert ConceptBadge("colour", "red", 1).auroc == 1  # an int is a float too
    with pytest.raises(TypeError, match=r"TopImage\.index: expected int, got bool"):
        TopImage(True, "a", "b", 1.0, "image1")
    with pytest.raises(TypeError, match=r"TopImage\.index: expected int, got int64"):  # not sent as JSON as it is
        TopImage(np.int64(3), "a", "b", 1.0, "image3")
    with pytest.raises(TypeError, match=r"CommunityDetails\.outside: expected float \| None, got str"):
        details(outside="0.1")


def test_lists_are_checked_element_by_element():
    with pytest.raises(TypeError, match=r"ImportanceSummary\.class_drop\[2\]: expected float \| None, got str 'x'"):
        ImportanceSummary(0.1, [0.1, None, "x"], 1, 2, 3, 4, None, None, [], [], None, None)
    with pytest.raises(TypeError, match=r"PathwayClass\.paths\[0\]\[1\]: expected str, got int"):
        PathwayClass("class:a", "a", [["layer1:c0", 3]], [0.5])
    with pytest.raises(TypeError, match=r"PathwayClass\.scores: expected list\[float\], got tuple"):
        PathwayClass("class:a", "a", [], (0.5,))


def test_nested_records_must_be_records_of_their_type():
    with pytest.raises(TypeError, match=r"CommunityDetails\.concepts\[1\]: expected ConceptBadge, got TopImage"):
        details(concepts=[ConceptBadge("c", "v", 0.5), TopImage(1, "a", "a", 1.0, "image1")])
    with pytest.raises(TypeError, match=r"CommunityDetails\.label: expected ConceptBadge \| None, got dict"):
        details(label={"concept": "c", "value": "v", "auroc": 0.5})
    assert replace(details(), importance=None).label == ConceptBadge("colour", "red", 0.9)


def test_a_trait_checks_a_dict_down_to_its_nested_fields():
    view, sent = CommunityView(), asdict(details())
    view.details = sent
    assert view.details == sent
    sent["concepts"][2]["auroc"] = "0.9"
    with pytest.raises(traitlets.TraitError, match=(
        r"^details takes a CommunityDetails record: CommunityDetails\.concepts\[2\]\.auroc: expected float, got str"
    )):
        view.details = sent
    sent = asdict(details())
    del sent["label"]["auroc"]
    with pytest.raises(traitlets.TraitError, match=(
        r"CommunityDetails\.label: a ConceptBadge has the fields \['auroc', 'concept', 'value'\], got the keys \['concept', 'value'\]"
    )):
        view.details = sent
    view.details = {}  # nothing to show
    assert view.details == {}


def test_packed_bytes_must_be_whole_rows_as_many_as_their_count_says():
    assert points().count == 2
    with pytest.raises(ValueError, match=r"NeuronPoints\.xy: 3 rows of <u2 x 2 a row, rows: count, but count says 2"):
        points(xy=XY.pack(np.zeros((3, 2))))
    with pytest.raises(ValueError, match=r"NeuronPoints\.xy: 5 bytes are not whole rows of 4 bytes"):
        points(xy=b"\x00" * 5)
    with pytest.raises(ValueError, match=r"NeuronPoints\.strength: 2 rows of u1 x 1 a row, rows: links drawn, but links says 1"):
        points(strength=STRENGTH.pack(np.array([255, 3])))
    with pytest.raises(traitlets.TraitError, match=r"CommunityGraph\.neurons\.xy: expected bytes, got list"):
        CommunityView().graph = {
            "mode": "neurons", "nodes": [], "edges": [], "communities": 1, "note": "", "colours": ["#4e79a7"], "neurons": asdict(points()) | {"xy": [0, 0]},
        }


def test_the_codec_packs_little_endian_rows_and_refuses_what_would_wrap_around():
    layout = Packed("<u2", columns=2)
    data = layout.pack(np.array([[1, 2], [65535, 0]]))
    assert data == b"\x01\x00\x02\x00\xff\xff\x00\x00" and layout.count(data) == 2
    assert np.array_equal(np.frombuffer(Packed("<i2").pack(np.array([-1, 300])), "<i2"), [-1, 300])
    for wrong in (np.array([[0, 65536]]), np.array([[-1, 0]]), np.array([[0.5, 1]]), np.array([[np.nan, 1]])):
        with pytest.raises(ValueError, match="holds integers in 0..65535"):
            layout.pack(wrong)
    with pytest.raises(ValueError, match=r"packs a 2-d array of shape \(3, 2\), got shape \(3,\)"):
        layout.pack(np.arange(3))
    assert Packed("u1").fraction(np.array([0, 0.5, 1])) == bytes([0, 128, 255])
    assert layout.pack(np.zeros((0, 2))) == b""
    for dtype in (">u2", "<f4"):
        with pytest.raises(ValueError, match="little-endian integer dtype"):
            Packed(dtype)


def test_thumbnails_are_pngs_named_in_order_each_cropped_to_its_box():
    image = torch.rand(3, 8, 4)
    sent = thumbnails("community 3", {"image2": image, "patch0": image}, boxes={"patch0": [0, 0, 2, 4]}, size=16)
    assert sent.owner == "community 3" and sent.ids == ["image2", "patch0"]
    sizes = [Image.open(io.BytesIO(png)).size for png in sent.pngs]
    assert sizes == [(8, 16), (16, 8)]  # the whole picture, then its top quarter, 16 pixels on the long side


def test_the_schema_names_every_nested_record_and_its_fields_types():
    records = schema(CommunityGraph)
    assert list(records) == ["CommunityGraph", "CommunityNode", "Edge", "NeuronPoints"]
    assert records["CommunityGraph"]["neurons"] == "NeuronPoints | None"
    assert records["CommunityGraph"]["nodes"] == "list[CommunityNode]"
    assert records["NeuronPoints"]["xy"] == "bytes (<u2 x 2 a row, rows: count)"
    assert records["Edge"] == {"a": "int | str", "b": "int | str", "w": "float"}


@dataclass(frozen=True)
class Pair(Payload):
    both: tuple[int, int]


def test_a_field_of_a_type_a_record_cannot_send_is_refused():
    with pytest.raises(TypeError, match=r"Pair\.both: a record field cannot be declared as tuple\[int, int\]"):
        Pair((1, 2))


def test_two_records_of_one_name_are_refused_in_a_schema():
    @dataclass(frozen=True)
    class Edge(Payload):
        a: int

    with pytest.raises(ValueError, match="two records are named Edge"):
        schema(CommunityGraph, Edge)
