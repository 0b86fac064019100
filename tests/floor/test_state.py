"""The table status machine, transition by transition."""

from __future__ import annotations

import pytest

from fynlo.floor.state import TABLE_TRANSITIONS, TableStatus, check_transition
from fynlo.kit.errors import InvalidStateTransition

ALLOWED = {
    ("available", "occupied"),
    ("available", "reserved"),
    ("available", "cleaning"),
    ("reserved", "available"),
    ("reserved", "occupied"),
    ("reserved", "cleaning"),
    ("occupied", "cleaning"),
    ("occupied", "available"),
    ("cleaning", "available"),
}
ALL_PAIRS = [(a.value, b.value) for a in TableStatus for b in TableStatus]


def test_every_status_has_a_row() -> None:
    assert set(TABLE_TRANSITIONS) == set(TableStatus)


@pytest.mark.parametrize(("current", "requested"), ALL_PAIRS)
def test_transition_table(current: str, requested: str) -> None:
    if (current, requested) in ALLOWED:
        assert check_transition(current, requested) == requested
        return
    with pytest.raises(InvalidStateTransition) as caught:
        check_transition(current, requested)
    allowed = sorted(b for a, b in ALLOWED if a == current)
    assert caught.value.details == {
        "current": current,
        "requested": requested,
        "allowed": allowed,
    }
    assert caught.value.status_code == 409
