from __future__ import annotations

import pytest

from sessions.memory_store import MemoryStore
from tests.integration.store_contract import StoreContract


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> MemoryStore:
        return MemoryStore()
