"""Does the shipped knowledge base understand how customers actually ask?

Two sets of our own paraphrases, none copied from the knowledge file (checked below):

- TUNING (143) was used to choose the scoring, the thresholds and the stopwords, and to
  fill vocabulary gaps in the questions. It guards against regressions when the
  knowledge file is edited.
- HELD_OUT (85) was written afterwards, in two rounds, to measure, and each round was
  first run once as is. Round one (47): 43 right end to end, two confident wrong; one
  of them ("there's a transaction I didn't make" escalated as a complaint, through
  "make a complaint") led to negation terms ("didn't make" gives "not_make"). Round two
  (38): 34 right, one confident wrong ("my online banking login isn't working" answered
  as a card problem), which led to treating "work(ing)" as filler and to negation
  reaching only the next word. Both rounds stay here, now 79/85.

End-to-end success is the bot's first reply answering (or escalating) with the expected
intent. It is not 100%, on purpose: BM25 has no synonyms, so a few phrasings with
no word in common with the right entry ("my card was taken from my bag") get a
"did you mean...?" instead, which is the designed behaviour for a doubtful match, not a
wrong answer. What must not happen is a confident wrong answer, and a sensitive topic
being answered as something else.
"""

from __future__ import annotations

import asyncio

import pytest

from handoff.bot import BankingBot, KnowledgeBase, load_knowledge
from handoff.bot.knowledge import normalize_title
from handoff.bot.matcher import KnowledgeMatcher
from handoff.handlers import Escalate, Say

Case = tuple[str, str]

HELD_OUT: tuple[Case, ...] = (
    ("how much is in my savings right now", "balance"),
    ("what's my available balance", "balance"),
    ("my card was taken from my bag", "card_lost"),
    ("I can't find my credit card anywhere", "card_lost"),
    ("please freeze my debit card for now", "card_freeze"),
    ("how do I unfreeze my card", "card_freeze"),
    ("I typed the wrong PIN too many times", "card_pin"),
    ("how can I view my PIN in the app", "card_pin"),
    ("my card was declined at the restaurant", "card_declined"),
    ("why won't my card work for online shopping", "card_declined"),
    ("my replacement card still hasn't arrived", "card_activate"),
    ("contactless isn't working", "contactless"),
    ("can I pay with my phone instead of my card", "contactless"),
    ("what's the daily limit on cash withdrawals", "cash_withdrawal"),
    ("is there a limit on how much I can transfer", "transfer_limits"),
    ("I made a transfer on Monday and it still hasn't arrived", "transfer_status"),
    ("how much do you charge for payments abroad", "international_transfer"),
    ("I want to send money to my family overseas", "international_transfer"),
    ("what exchange rate will I get for dollars", "exchange_rates"),
    ("why am I paying a monthly fee", "account_fees"),
    ("I want to cancel a direct debit to my old phone company", "direct_debits"),
    ("how do I set up a regular monthly transfer", "standing_orders"),
    ("I need my statements from last year", "statements"),
    ("how do I open a joint account", "open_account"),
    ("I'd like to shut my account", "close_account"),
    ("what are your opening hours on Saturday", "branch_hours"),
    ("where's the closest branch to me", "branch_locator"),
    ("the app won't let me log in", "app_login"),
    ("I've forgotten my online banking password", "password_reset"),
    ("where do I download the mobile app", "app_install"),
    ("I'd like a mortgage to buy a flat", "mortgage"),
    ("can I borrow money for home improvements", "loans"),
    ("I want to increase my overdraft", "overdraft"),
    ("what's the interest rate on your savings accounts", "interest_rates"),
    ("I've moved and need to change my address", "personal_details"),
    ("can I deposit a cheque using my phone", "cheque_deposit"),
    ("thanks, that's all I needed", "thanks"),
    ("I want to speak to a human", "human"),
    ("can I talk to a real person please", "human"),
    ("put me through to an agent", "human"),
    ("someone has stolen money from my account", "fraud"),
    ("there's a transaction I didn't make", "fraud"),
    ("I think I've been scammed", "fraud"),
    ("I want to complain about your service", "complaint"),
    ("I'm very unhappy with the bank", "complaint"),
    ("I've lost my job and can't pay my loan", "financial_difficulty"),
    ("my dad passed away and I need to deal with his account", "bereavement"),
    ("can you tell me my current balance", "balance"),
    ("i think my card has been stolen", "card_lost"),
    ("lost my wallet with all my cards", "card_lost"),
    ("i want to lock my card while i look for it", "card_freeze"),
    ("i need a new pin", "card_pin"),
    ("why does my card keep getting refused", "card_declined"),
    ("how do i turn on my new card", "card_activate"),
    ("tap and pay limit", "contactless"),
    ("how much money can i take out of an atm in one day", "cash_withdrawal"),
    ("what's the most i can send in a single payment", "transfer_limits"),
    ("my transfer is showing as pending", "transfer_status"),
    ("what are the charges for an international payment", "international_transfer"),
    ("what rate do you give for converting pounds to euros", "exchange_rates"),
    ("you charged me a fee i didn't expect", "account_fees"),
    ("how can i see all my direct debits", "direct_debits"),
    ("i want to stop my standing order", "standing_orders"),
    ("can you send me a paper statement", "statements"),
    ("i want to open a savings account for my daughter", "open_account"),
    ("how do i close my current account", "close_account"),
    ("are branches open on bank holidays", "branch_hours"),
    ("is there an atm near the station", "branch_locator"),
    ("my online banking login isn't working", "app_login"),
    ("how do i change my password", "password_reset"),
    ("the banking app keeps crashing on my phone", "app_install"),
    ("my fixed rate mortgage ends next month", "mortgage"),
    ("i'd like to take out a personal loan", "loans"),
    ("i'm overdrawn, what will it cost me", "overdraft"),
    ("how much interest does my savings account earn", "interest_rates"),
    ("i need to update my phone number", "personal_details"),
    ("how long until a cheque clears", "cheque_deposit"),
    ("great thank you goodbye", "thanks"),
    ("i'd like to chat with a person", "human"),
    ("agent please", "human"),
    ("money has gone out of my account that i didn't authorise", "fraud"),
    ("i got a text pretending to be you and i clicked the link", "fraud"),
    ("i want to raise a complaint", "complaint"),
    ("i'm struggling to make my mortgage payments", "financial_difficulty"),
    ("my husband died and i need help with his accounts", "bereavement"),
)

TUNING: tuple[Case, ...] = (
    ("how much have i got in my current account", "balance"),
    ("show my balance please", "balance"),
    ("what's in my account right now", "balance"),
    ("my bank card has gone missing", "card_lost"),
    ("somebody nicked my card", "card_lost"),
    ("i think i dropped my card on the bus", "card_lost"),
    ("can i put a temporary block on my card", "card_freeze"),
    ("how to lock card", "card_freeze"),
    ("I need to unlock my card after I froze it", "card_freeze"),
    ("what's my pin", "card_pin"),
    ("i've forgotten the pin for my debit card", "card_pin"),
    ("my card keeps getting declined", "card_declined"),
    ("payment failed at the supermarket", "card_declined"),
    ("the shop refused my card", "card_declined"),
    ("how long until my replacement card comes", "card_activate"),
    ("activate card", "card_activate"),
    ("can i use google pay", "contactless"),
    ("tap payments not going through", "contactless"),
    ("what's the max i can take out at an atm", "cash_withdrawal"),
    ("withdraw cash limit", "cash_withdrawal"),
    ("what's the limit for sending money", "transfer_limits"),
    ("can I transfer 20000 today", "transfer_limits"),
    ("i sent money yesterday and it still isn't there", "transfer_status"),
    ("payment pending for 3 days", "transfer_status"),
    ("how long do transfers take", "transfer_status"),
    ("cost of sending money to spain", "international_transfer"),
    ("i need to pay someone in the usa", "international_transfer"),
    ("what's the pound to euro rate", "exchange_rates"),
    ("currency exchange", "exchange_rates"),
    ("why did you charge me", "account_fees"),
    ("are there any monthly fees", "account_fees"),
    ("cancel a direct debit", "direct_debits"),
    ("my gym keeps taking money, how do i stop it", "direct_debits"),
    ("i want to pay my rent automatically every month", "standing_orders"),
    ("edit standing order", "standing_orders"),
    ("can i get a pdf statement", "statements"),
    ("bank statement for the last 6 months", "statements"),
    ("how can i open an account with you", "open_account"),
    ("new savings account", "open_account"),
    ("i'd like to close my account", "close_account"),
    ("i'm leaving the bank", "close_account"),
    ("when are you open", "branch_hours"),
    ("saturday opening", "branch_hours"),
    ("closest atm", "branch_locator"),
    ("where's your nearest branch", "branch_locator"),
    ("app keeps saying login failed", "app_login"),
    ("can't get into online banking", "app_login"),
    ("forgot password", "password_reset"),
    ("reset my passcode", "password_reset"),
    ("download the app", "app_install"),
    ("app crashes when i open it", "app_install"),
    ("mortgage rates", "mortgage"),
    ("i want to buy a house", "mortgage"),
    ("i need a loan", "loans"),
    ("borrow 5000 pounds", "loans"),
    ("can i extend my overdraft", "overdraft"),
    ("interest on my savings", "interest_rates"),
    ("i've changed address", "personal_details"),
    ("new phone number", "personal_details"),
    ("how do i pay in a cheque", "cheque_deposit"),
    ("deposit check with phone", "cheque_deposit"),
    ("thanks a lot", "thanks"),
    ("speak to a human", "human"),
    ("get me an agent", "human"),
    ("real person please", "human"),
    ("i didn't authorise this payment", "fraud"),
    ("someone has taken money out of my account", "fraud"),
    ("i've been the victim of a scam", "fraud"),
    ("i wish to complain", "complaint"),
    ("this is appalling service", "complaint"),
    ("i can't afford my repayments", "financial_difficulty"),
    ("my father passed away", "bereavement"),
    ("remaining funds in my account", "balance"),
    ("tell me how much money i have", "balance"),
    ("can you check my balance", "balance"),
    ("my purse got stolen with my cards inside", "card_lost"),
    ("i have lost my visa card", "card_lost"),
    ("cancel my lost card and send a new one", "card_lost"),
    ("freeze card", "card_freeze"),
    ("block my card temporarily until i find it", "card_freeze"),
    ("change pin", "card_pin"),
    ("pin locked", "card_pin"),
    ("my card got rejected online", "card_declined"),
    ("why was my payment declined at the petrol station", "card_declined"),
    ("new card hasn't come in the post", "card_activate"),
    ("how do i start using my replacement card", "card_activate"),
    ("add card to apple wallet", "contactless"),
    ("contactless payment limit", "contactless"),
    ("atm limit per day", "cash_withdrawal"),
    ("how much can i withdraw from a cash machine", "cash_withdrawal"),
    ("raise my transfer limit", "transfer_limits"),
    ("i need to send 15000 but it says over the limit", "transfer_limits"),
    ("the person i paid says they haven't received the money", "transfer_status"),
    ("bank transfer still pending", "transfer_status"),
    ("what fee do you charge to send money abroad", "international_transfer"),
    ("what's your swift code", "international_transfer"),
    ("dollar exchange rate today", "exchange_rates"),
    ("i'm going on holiday and need euros", "exchange_rates"),
    ("there's a fee on my account i don't understand", "account_fees"),
    ("how much does the account cost per month", "account_fees"),
    ("stop a direct debit", "direct_debits"),
    ("direct debit refund", "direct_debits"),
    ("set up a monthly payment to my landlord", "standing_orders"),
    ("cancel my standing order", "standing_orders"),
    ("i need proof of my transactions for the landlord", "statements"),
    ("how do i download statements", "statements"),
    ("open a current account", "open_account"),
    ("can my son get an account", "open_account"),
    ("please close my savings account", "close_account"),
    ("i'm moving to another bank", "close_account"),
    ("is the branch open on sunday", "branch_hours"),
    ("what time do you close today", "branch_hours"),
    ("nearest cash machine", "branch_locator"),
    ("where is your branch in the city centre", "branch_locator"),
    ("i can't sign into my app", "app_login"),
    ("online banking says my access is locked", "app_login"),
    ("i don't remember my password", "password_reset"),
    ("forgot my username", "password_reset"),
    ("how do i get the app on my new iphone", "app_install"),
    ("the app won't update", "app_install"),
    ("remortgage", "mortgage"),
    ("first time buyer mortgage", "mortgage"),
    ("loan for a new car", "loans"),
    ("personal loan interest rate", "loans"),
    ("my overdraft limit", "overdraft"),
    ("i went overdrawn", "overdraft"),
    ("what savings rate do you offer", "interest_rates"),
    ("how much interest do i get", "interest_rates"),
    ("update my address", "personal_details"),
    ("i have a new email", "personal_details"),
    ("scan a cheque in the app", "cheque_deposit"),
    ("when will my cheque clear", "cheque_deposit"),
    ("cheers that's all", "thanks"),
    ("i want a real human", "human"),
    ("let me talk to someone", "human"),
    ("customer service representative", "human"),
    ("there are transactions i don't recognise and i think it's fraud", "fraud"),
    ("i was scammed by someone on the phone", "fraud"),
    ("my account has been hacked", "fraud"),
    ("i'm making a formal complaint", "complaint"),
    ("i'm really unhappy with how i've been treated", "complaint"),
    ("i'm struggling to pay my debts", "financial_difficulty"),
    ("my wife died last month", "bereavement"),
)

# Single topic-less words: the bot must ask, not guess.
AMBIGUOUS = ("card", "money", "account", "pay", "transfer", "bank", "new", "online")


@pytest.fixture(scope="module")
def knowledge() -> KnowledgeBase:
    return load_knowledge()


@pytest.fixture(scope="module")
def outcomes(knowledge: KnowledgeBase) -> dict[str, Say]:
    """The bot's first reply to every phrasing, on an empty log."""
    bot = BankingBot(knowledge)

    async def first_replies() -> dict[str, Say]:
        replies: dict[str, Say] = {}
        for text, _ in (*HELD_OUT, *TUNING):
            say = (await bot.reply([], text))[0]
            assert isinstance(say, Say)
            replies[text] = say
        for text in AMBIGUOUS:
            say = (await bot.reply([], text))[0]
            assert isinstance(say, Say)
            replies[text] = say
        return replies

    return asyncio.run(first_replies())


def _failures(
    cases: tuple[Case, ...], knowledge: KnowledgeBase, outcomes: dict[str, Say]
) -> list[str]:
    failed = []
    for text, entry_id in cases:
        say = outcomes[text]
        expected = knowledge.by_id(entry_id).intent
        if say.kind not in ("answer", "escalating") or say.intent != expected:
            failed.append(f"{text!r}: expected {entry_id}, got {say.kind} {say.intent}")
    return failed


def _confidently_wrong(
    cases: tuple[Case, ...], knowledge: KnowledgeBase, outcomes: dict[str, Say]
) -> list[str]:
    return [
        f"{text!r}: expected {entry_id}, answered {outcomes[text].intent}"
        for text, entry_id in cases
        if outcomes[text].kind in ("answer", "escalating")
        and outcomes[text].intent != knowledge.by_id(entry_id).intent
    ]


def test_no_phrasing_is_copied_from_the_knowledge_base(knowledge: KnowledgeBase) -> None:
    shipped = {normalize_title(text) for e in knowledge.entries for text in (e.title, *e.questions)}
    copied = [text for text, _ in (*HELD_OUT, *TUNING) if normalize_title(text) in shipped]
    assert copied == []
    assert len(HELD_OUT) >= 20


def test_every_expected_entry_exists(knowledge: KnowledgeBase) -> None:
    ids = {entry.id for entry in knowledge.entries}
    assert {entry_id for _, entry_id in (*HELD_OUT, *TUNING)} <= ids


def test_held_out_paraphrases_are_understood(
    knowledge: KnowledgeBase, outcomes: dict[str, Say]
) -> None:
    failed = _failures(HELD_OUT, knowledge, outcomes)
    rate = 1 - len(failed) / len(HELD_OUT)
    # 79/85 today; the misses are listed in the message when this fails.
    assert rate >= 0.9, "\n".join(failed)


def test_held_out_top_entry_is_right(knowledge: KnowledgeBase) -> None:
    matcher = KnowledgeMatcher(knowledge)
    wrong = [
        f"{text!r}: expected {entry_id}, ranked {[m.entry.id for m in matcher.rank(text)]}"
        for text, entry_id in HELD_OUT
        if not (ranked := matcher.rank(text)) or ranked[0].entry.id != entry_id
    ]
    # 83/85 today: a "did you mean...?" then at least offers the right entry first.
    assert 1 - len(wrong) / len(HELD_OUT) >= 0.95, "\n".join(wrong)


def test_confident_wrong_answers_are_rare(
    knowledge: KnowledgeBase, outcomes: dict[str, Say]
) -> None:
    wrong = _confidently_wrong((*HELD_OUT, *TUNING), knowledge, outcomes)
    # Today only "can I borrow money for home improvements" -> mortgage (arguably fair:
    # a further advance is one answer to it).
    assert len(wrong) <= 1, "\n".join(wrong)


def test_sensitive_phrasings_are_never_answered_as_something_else(
    knowledge: KnowledgeBase, outcomes: dict[str, Say]
) -> None:
    for text, entry_id in (*HELD_OUT, *TUNING):
        entry = knowledge.by_id(entry_id)
        if not entry.sensitive:
            continue
        say = outcomes[text]
        if say.kind == "escalating":
            assert say.intent == entry.intent, text
        else:
            # Unsure is acceptable only if the sensitive topic is offered.
            assert say.kind == "clarify", text
            assert entry.title in say.suggestions, text


def test_tuning_paraphrases_still_rank_first(knowledge: KnowledgeBase) -> None:
    matcher = KnowledgeMatcher(knowledge)
    wrong = [
        f"{text!r}: expected {entry_id}, ranked {[m.entry.id for m in matcher.rank(text)]}"
        for text, entry_id in TUNING
        if not (ranked := matcher.rank(text)) or ranked[0].entry.id != entry_id
    ]
    assert 1 - len(wrong) / len(TUNING) >= 0.97, "\n".join(wrong)


def test_tuning_paraphrases_are_understood(
    knowledge: KnowledgeBase, outcomes: dict[str, Say]
) -> None:
    failed = _failures(TUNING, knowledge, outcomes)
    assert 1 - len(failed) / len(TUNING) >= 0.85, "\n".join(failed)


@pytest.mark.parametrize("text", AMBIGUOUS)
def test_a_lone_common_word_is_not_answered(text: str, outcomes: dict[str, Say]) -> None:
    assert outcomes[text].kind == "clarify"


async def test_requests_for_a_person_and_complaints_always_escalate(
    knowledge: KnowledgeBase,
) -> None:
    bot = BankingBot(knowledge)
    reasons = {"human": "customer_request", "complaint": "sensitive_intent"}
    cases = [(t, e) for t, e in (*HELD_OUT, *TUNING) if e in reasons]
    assert len(cases) >= 10
    for text, entry_id in cases:
        replies = await bot.reply([], text)
        assert isinstance(replies[-1], Escalate), text
        assert replies[-1].reason == reasons[entry_id], text
