"""The self-service banking bot: answers first in a chat, hands over to a person when needed.

Stdlib-only domain code: a TOML knowledge base, BM25 retrieval and a stateless policy
implementing `handoff.handlers.Handler`.
"""

from handoff.bot.banking_bot import BankingBot
from handoff.bot.knowledge import KnowledgeBase, KnowledgeEntry, load_knowledge

__all__ = ["BankingBot", "KnowledgeBase", "KnowledgeEntry", "load_knowledge"]
