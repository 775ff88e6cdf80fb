"""Demo mode: a few people to try Tandem with, and a login that mints their tokens.

Only mounted when demo mode is on. Besides the named users, `customer-<anything>` and
`agent-<anything>` log in as fresh customers and agents, for load tests.
"""

from __future__ import annotations

import re

from handoff.directory import MemoryDirectory
from handoff.ports import Person

__all__ = ["DEMO_PEOPLE", "demo_person", "seed_demo"]

DEMO_PEOPLE: tuple[Person, ...] = (
    Person("alice", "customer", "Alice Martin"),
    Person("bob", "customer", "Bob Okafor"),
    Person("chen", "customer", "Chen Wei"),
    Person("anna", "agent", "Anna Novak"),
    # Ben is the cards and fraud specialist (and takes general questions); Anna serves
    # every queue.
    Person("ben", "agent", "Ben Duarte", frozenset({"cards", "fraud", "general"})),
    Person("sara", "supervisor", "Sara Lindqvist"),
)

_GENERATED = re.compile(r"^(customer|agent)-([A-Za-z0-9_.-]{1,48})$")


def seed_demo(directory: MemoryDirectory) -> None:
    for person in DEMO_PEOPLE:
        directory.add(person)


async def demo_person(directory: MemoryDirectory, username: str) -> Person | None:
    """The demo person for `username`, inventing load-test users on demand."""
    if person := await directory.get(username):
        return person
    if match := _GENERATED.match(username):
        person = Person(username, "customer" if match.group(1) == "customer" else "agent", username)
        directory.add(person)
        return person
    return None
