"""The people Tandem knows: customers, agents, supervisors. A bank plugs in its own."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from handoff.ports import Person, Role

__all__ = ["Directory", "MemoryDirectory"]


class Directory(Protocol):
    async def get(self, person_id: str) -> Person | None: ...

    async def of_role(self, role: Role) -> list[Person]: ...


class MemoryDirectory:
    def __init__(self, people: Iterable[Person] = ()) -> None:
        self._people = {person.id: person for person in people}

    def add(self, person: Person) -> None:
        self._people[person.id] = person

    async def get(self, person_id: str) -> Person | None:
        return self._people.get(person_id)

    async def of_role(self, role: Role) -> list[Person]:
        return [p for p in self._people.values() if p.role == role]
