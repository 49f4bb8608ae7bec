"""What a front-end module reads of the records: each member chain through a variable that
is annotated with a record's name (tests/widgets/test_payloads.py checks them).

The convention (js/_prelude.js): a variable or a parameter that holds a record carries the
record's name in a comment right before its name, ``/** @type {CommunityDetails} */ const d
= ...``, or several names for one of them, ``{TopImage|PatchImage}``. The annotation holds

- for a parameter, or the variable of a ``for (... of ...)`` loop (the comment inside
  parentheses): in the body after them, a block, or an arrow function's expression, or a
  loop's one statement;
- for a ``const`` or ``let``: from the comment to the end of the enclosing block.

A chain ``d.label.auroc`` through an annotated ``d`` reads the field ``label`` of its record,
then ``auroc`` of the record ``label`` holds. A field that holds a list or a value ends the
chain: what follows is JavaScript's (``.length``, ``.map``, ``.toFixed``).

The scanner knows comments, strings and template literals, not regular-expression literals
(the views have none).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ANNOTATION = re.compile(r"/\*\*\s*@type\s*\{\s*([\w\s|]+?)\s*\}\s*\*/")
NAME = re.compile(r"\s*(?:(?:const|let|var)\s+)?([A-Za-z_$][\w$]*)")
MODEL_GET = re.compile(r"\s*=\s*model\.get\(\"(\w+)\"\)")
AFTER_PARENTHESES = re.compile(r"\s*(?:=>)?\s*")
# A name not itself a member (``...name`` spreads it), then its members.
CHAIN = re.compile(r"(?<![\w$])(?<![^.]\.)([A-Za-z_$][\w$]*)((?:\s*\.\s*[A-Za-z_$][\w$]*)+)")
OPENS, CLOSES = "([{", ")]}"


@dataclass(frozen=True)
class Binding:
    """An annotated variable: its records, where the annotation holds, and the trait it is
    read from when it is initialised as ``model.get("trait")``."""

    name: str
    records: tuple[str, ...]
    start: int
    end: int
    trait: str | None
    line: int


@dataclass(frozen=True)
class Read:
    """A member chain through an annotated variable: ``text`` is e.g. ``d.label.auroc``."""

    records: tuple[str, ...]
    chain: tuple[str, ...]
    text: str
    line: int


def strip(source: str) -> tuple[str, list[tuple[int, int]]]:
    """``source`` with comments, strings and the text of template literals blanked (the
    expressions inside ``${...}`` kept), every character at its place, lines kept; and where
    its block comments (``/* ... */``) start and end."""
    out, comments = list(source), []

    def blank(i: int, j: int) -> None:
        out[i:j] = [c if c == "\n" else " " for c in source[i:j]]

    i, n, template, depths = 0, len(source), False, []
    while i < n:
        if template:
            if source[i] == "\\":
                blank(i, i + 2)
                i += 2
            elif source[i] == "`":
                blank(i, i + 1)
                template, i = False, i + 1
            elif source.startswith("${", i):
                blank(i, i + 2)
                depths.append(0)
                template, i = False, i + 2
            else:
                blank(i, i + 1)
                i += 1
        elif source.startswith("//", i):
            j = source.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif source.startswith("/*", i):
            j = source.index("*/", i) + 2
            comments.append((i, j))
            blank(i, j)
            i = j
        elif source[i] in "'\"":
            j = i + 1
            while source[j] != source[i]:
                j += 2 if source[j] == "\\" else 1
            blank(i + 1, j)
            i = j + 1
        elif source[i] == "`":
            blank(i, i + 1)
            template, i = True, i + 1
        elif source[i] == "}" and depths and depths[-1] == 0:
            depths.pop()
            blank(i, i + 1)
            template, i = True, i + 1
        else:
            if depths and source[i] in "{}":
                depths[-1] += 1 if source[i] == "{" else -1
            i += 1
    return "".join(out), comments


def brackets(code: str) -> list[tuple[int, int]]:
    """Every bracket pair of ``code`` (stripped): (position of the opening one, of the closing one)."""
    pairs, stack = [], []
    for i, c in enumerate(code):
        if c in OPENS:
            stack.append(i)
        elif c in CLOSES:
            opened = stack.pop()
            if OPENS.index(code[opened]) != CLOSES.index(c):
                raise ValueError(f"{c!r} at {i} closes {code[opened]!r} at {opened}")
            pairs.append((opened, i))
    if stack:
        raise ValueError(f"{code[stack[-1]]!r} at {stack[-1]} is never closed")
    return pairs


def expression_end(code: str, i: int) -> int:
    """Where the expression starting at ``i`` ends: at a ``,`` or ``;`` outside brackets, or
    at the bracket that closes around it."""
    depth = 0
    for j in range(i, len(code)):
        if code[j] in OPENS:
            depth += 1
        elif code[j] in CLOSES:
            if depth == 0:
                return j
            depth -= 1
        elif code[j] in ",;" and depth == 0:
            return j
    return len(code)


def line_of(source: str, i: int) -> int:
    return source.count("\n", 0, i) + 1


def bindings(source: str) -> list[Binding]:
    """The annotated variables of ``source`` (see the module's docstring)."""
    code, comments = strip(source)
    pairs = brackets(code)
    closing = dict(pairs)
    found = []
    for note in filter(None, (ANNOTATION.fullmatch(source, i, j) for i, j in comments)):
        line = line_of(source, note.start())
        name = NAME.match(source, note.end())
        if name is None:
            raise ValueError(f"line {line}: {note.group(0)} is not followed by a name")
        around = max(((a, b) for a, b in pairs if a < note.start() < b), default=None)
        if around is None or code[around[0]] == "{":
            end = len(code) if around is None else around[1]
        elif code[around[0]] == "(":  # a parameter or a loop's variable: the body's block, expression or statement
            body = AFTER_PARENTHESES.match(code, around[1] + 1).end()
            end = closing[body] if code[body] == "{" else expression_end(code, body)
        else:
            raise ValueError(f"line {line}: {note.group(0)} inside brackets: cannot tell where it holds")
        trait = MODEL_GET.match(source, name.end())
        records = tuple(r.strip() for r in note.group(1).split("|"))
        found.append(Binding(name.group(1), records, note.start(), end, trait and trait.group(1), line))
    return found


def reads(source: str) -> list[Read]:
    """Every member chain of ``source`` through an annotated variable, where it is annotated."""
    code, annotated = strip(source)[0], bindings(source)
    found = []
    for chain in CHAIN.finditer(code):
        name, at = chain.group(1), chain.start()
        holding = [b for b in annotated if b.name == name and b.start < at < b.end]
        if holding:
            binding = max(holding, key=lambda b: b.start)
            members = tuple(m.strip() for m in chain.group(2).split(".")[1:])
            found.append(Read(binding.records, members, re.sub(r"\s+", "", chain.group(0)), line_of(source, at)))
    return found


def fields_read(source: str, schema: dict[str, dict[str, str]]) -> tuple[set[tuple[str, str]], list[str]]:
    """The (record, field) pairs ``source`` reads, and what it reads that ``schema`` (record
    name to field name to type, as ``payloads.schema`` gives it) does not have."""
    seen, wrong = set(), []
    for binding in bindings(source):
        unknown = [r for r in binding.records if r not in schema]
        if unknown:
            wrong.append(f"line {binding.line}: {binding.name} is annotated with {', '.join(unknown)}, not a record of this view")
    for read in reads(source):
        records = read.records
        for field in read.chain:
            if any(r not in schema for r in records):
                break
            lacking = [r for r in records if field not in schema[r]]
            if lacking:
                wrong.append(
                    f"line {read.line}: {read.text} reads {field}, which {' and '.join(lacking)} has not "
                    f"(fields: {', '.join(schema[lacking[0]])})"
                )
                break
            seen.update((r, field) for r in records)
            held = [schema[r][field].removesuffix(" | None") for r in records]
            if not all(h in schema for h in held):
                break  # a list or a value: what follows is JavaScript's
            records = tuple(dict.fromkeys(held))
    return seen, wrong
