"""Entity names that the REST API uses as fixed path segments are refused."""

from __future__ import annotations

import pytest

from xrm_core import XRM
from xrm_core.errors import DefinitionError
from xrm_core.metadata.validation import RESERVED_ENTITY_NAMES


@pytest.mark.parametrize("name", sorted(RESERVED_ENTITY_NAMES))
def test_a_reserved_name_is_refused_with_a_pointer_at_the_name(xrm: XRM, name: str) -> None:
    doc = {"x-xrm": {"name": name}, "properties": {"title": {"type": "string"}}}

    with pytest.raises(DefinitionError) as caught:
        xrm.metadata.define(doc)

    (problem,) = caught.value.problems
    assert problem.pointer == "/x-xrm/name"
    assert f"/api/v1/{name}" in problem.message
    assert not xrm.metadata.exists(name)


def test_names_that_only_contain_a_reserved_word_are_fine(xrm: XRM) -> None:
    for name in ("me_too", "audit_entry", "import", "metadata_tag"):
        xrm.metadata.define({"x-xrm": {"name": name}, "properties": {"t": {"type": "string"}}})
        assert xrm.metadata.exists(name)
