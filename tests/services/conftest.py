"""Fixtures of the service tests: a small world on the in-memory fakes (`service_world`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from service_world import World, make_world


@pytest.fixture
def world() -> World:
    return make_world()
