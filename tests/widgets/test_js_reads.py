"""The reader of the front ends' record reads (tests/widgets/_js_reads.py) on small modules:
where an annotation holds, what counts as a read, and what it reports."""

import pytest
from _js_reads import bindings, fields_read, strip

SCHEMA = {
    "Details": {"owner": "str", "label": "Badge | None", "badges": "list[Badge]", "size": "int"},
    "Badge": {"concept": "str", "auroc": "float", "thumb": "str"},
    "Image": {"index": "int", "thumb": "str"},
}


def read(source: str) -> set[tuple[str, str]]:
    seen, wrong = fields_read(source, SCHEMA)
    assert not wrong, wrong
    return seen


def test_comments_strings_and_template_text_are_not_code_but_template_expressions_are():
    source = 'const a = "d.x"; // d.y\n/* d.z */ const b = `d.w ${d.size} ${`${d.owner}`} }`;'
    code = strip(source)[0]
    assert "d.x" not in code and "d.y" not in code and "d.z" not in code and "d.w" not in code
    assert "d.size" in code and "d.owner" in code and len(code) == len(source)
    assert read("/** @type {Details} */ const d = model.get(\"details\");\n" + source) == {
        ("Details", "size"), ("Details", "owner")
    }


def test_a_chain_goes_through_nested_records_and_ends_at_a_list_or_a_value():
    source = """function f(/** @type {Details} */ d) {
      d.label.auroc.toFixed(2);
      d.badges.length;
      d.size.toLocaleString("en");
      return [...d.badges];
    }"""
    assert read(source) == {("Details", "label"), ("Badge", "auroc"), ("Details", "badges"), ("Details", "size")}


def test_an_annotation_holds_in_its_parameter_s_body_or_to_the_end_of_its_block():
    source = """function f(d) {
      d.notread;
      items.map((/** @type {Badge} */ d) => d.concept).concat(d.notread);
      for (/** @type {Image} */ const d of items) d.index;
      d.notread;
      if (x) {
        /** @type {Details} */ const d = model.get("details") || {};
        d.owner;
        {
          d.size;
        }
      }
      d.notread;
    }
    d.notread;"""
    assert read(source) == {("Badge", "concept"), ("Image", "index"), ("Details", "owner"), ("Details", "size")}
    assert [(b.name, b.records, b.trait) for b in bindings(source)] == [
        ("d", ("Badge",), None), ("d", ("Image",), None), ("d", ("Details",), "details"),
    ]


def test_a_later_annotation_of_a_name_holds_over_an_earlier_one():
    source = """{
      /** @type {Details} */ const x = a;
      x.owner;
      things.forEach((/** @type {Image} */ x) => { x.index; });
      x.size;
    }"""
    assert read(source) == {("Details", "owner"), ("Image", "index"), ("Details", "size")}


def test_a_name_annotated_with_several_records_reads_each_of_them():
    assert read("for (/** @type {Badge|Image} */ const item of items) { item.thumb; }") == {
        ("Badge", "thumb"), ("Image", "thumb")
    }
    _, wrong = fields_read("for (/** @type {Badge|Image} */ const item of items) { item.index; }", SCHEMA)
    assert wrong == ["line 1: item.index reads index, which Badge has not (fields: concept, auroc, thumb)"]


def test_what_is_wrong_is_reported_by_line():
    source = """/** @type {Details} */ const d = model.get("details");
    d.label.aurok;
    /** @type {Detail} */ const e = other;"""
    _, wrong = fields_read(source, SCHEMA)
    assert wrong == [
        "line 3: e is annotated with Detail, not a record of this view",
        "line 2: d.label.aurok reads aurok, which Badge has not (fields: concept, auroc, thumb)",
    ]


def test_an_annotation_that_names_nothing_or_sits_in_brackets_is_an_error():
    with pytest.raises(ValueError, match="is not followed by a name"):
        bindings("const a = /** @type {Details} */ (b);")
    with pytest.raises(ValueError, match="inside brackets"):
        bindings("const a = [/** @type {Details} */ b];")
