"""Self-service task flows: freeze, unfreeze or replace a card, change its limit, check a
balance or a transfer, through the `CoreBanking` port a bank plugs its core system into.

Stdlib-only domain code. The engine (`SelfService`) is stateless: a flow's state travels
in the bot's messages and is read back with `flow_state_from_history`.
"""

from handoff.selfservice.corebanking import CoreBanking, CoreBankingError, DemoBank
from handoff.selfservice.history import flow_state_from_history
from handoff.selfservice.intents import FLOW_NAMES, INTENT_FLOWS
from handoff.selfservice.model import (
    CompletedTask,
    EscalationRequest,
    FlowState,
    FlowTurn,
    Utterance,
)
from handoff.selfservice.service import SelfService

__all__ = [
    "FLOW_NAMES",
    "INTENT_FLOWS",
    "CompletedTask",
    "CoreBanking",
    "CoreBankingError",
    "DemoBank",
    "EscalationRequest",
    "FlowState",
    "FlowTurn",
    "SelfService",
    "Utterance",
    "flow_state_from_history",
]
