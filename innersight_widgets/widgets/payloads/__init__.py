"""What the front ends draw, as typed records built by pure functions: one module per view,
named as the view's front-end module in ``js/`` that reads it.

- ``community_view``: ``js/community_view.js`` (CommunityExplorer)
- ``circuit_view``: ``js/circuit_view.js`` (CircuitView)
- ``critical_view``: ``js/critical_view.js`` (CriticalNeuronsView)
- ``debugger_view``: ``js/debugger_view.js`` (MisclassificationDebugger)
- ``_records``: the record base, the trait that sends a record, the schema, and the records
  every view reads (``Thumbnails`` is read by ``js/_prelude.js``)
- ``_codec``: the one codec, arrays and pictures as bytes

Each record is a frozen dataclass whose fields are checked against their type hints when it
is built; the widgets' traits take it and send it as JSON (bytes as binary buffers). The
JavaScript reads the same field names, through variables annotated with the record's name;
tests/widgets/test_payloads.py checks every field each view reads against :func:`schema`,
and that each view reads every field.
"""

from ._records import Payload, Record, Thumbnails, schema

__all__ = ["Payload", "Record", "Thumbnails", "schema"]
