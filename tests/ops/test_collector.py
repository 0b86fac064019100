"""The collector settings of a served process (``fynlo serve``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from fynlo.app import SERVING_GC_THRESHOLDS, tune_collector_for_serving


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_serving_freezes_start_up_and_raises_the_thresholds(restored_collector: None) -> None:
    assert gc.get_threshold() != SERVING_GC_THRESHOLDS
    assert gc.get_freeze_count() == 0

    tune_collector_for_serving()

    assert gc.get_threshold() == SERVING_GC_THRESHOLDS
    assert gc.get_freeze_count() > 0  # what was alive at start-up is out of the full passes
    assert SERVING_GC_THRESHOLDS[0] > 700  # above CPython's default young threshold
