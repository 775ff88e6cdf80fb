"""Company and merchant names: "Waitrose", "Amazon Prime Video", "direct debit to LA VN".

Two sources: a small gazetteer of well-known brands (found anywhere), and the words
after a payment cue ("spent ... at X", "direct debit to X", "rejected in X"). After a
cue a capitalised run is taken as it is. A lower-case run is taken after "direct debit",
and after weaker cues only when it starts with no everyday word ("in total"), is no
spending category ("on groceries") and does not follow "to" (usually a person).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from handoff.understanding.slots.candidate import Candidate, Context

__all__ = ["find_merchants"]

_I = re.IGNORECASE

# Widely known brands a bank's customers pay; lower case, matched case-insensitively.
_BRANDS: tuple[str, ...] = (
    "amazon prime video", "amazon prime", "amazon video", "amazon music", "amazon", "apple pay",
    "apple", "google pay", "google play", "google", "netflix", "spotify", "disney plus",
    "uber eats", "uber", "deliveroo", "just eat", "lyft", "bolt", "airbnb", "booking.com",
    "expedia", "ryanair", "easyjet", "british airways", "tesco", "sainsbury's", "sainsburys",
    "asda", "morrisons", "waitrose", "lidl", "aldi", "co-op", "marks and spencer",
    "marks & spencer", "m&s", "boots", "argos", "currys", "john lewis", "ikea", "primark",
    "zara", "h&m", "starbucks", "costa", "pret a manger", "pret", "mcdonald's",
    "mcdonalds", "burger king", "kfc", "subway", "nando's", "nandos", "domino's", "dominos",
    "pizza hut", "chipotle", "paypal", "ebay", "etsy", "shell", "bp", "esso", "vodafone",
    "ee", "o2", "virgin media", "sky", "bt", "british gas", "eon", "e.on",
    "edf", "octopus energy", "thames water", "tfl", "trainline", "american express", "amex",
    "visa", "mastercard", "barclays", "barclay's", "hsbc", "lloyds", "natwest",
    "santander", "monzo", "revolut", "halifax", "nationwide", "western union", "wise",
    "post office", "godaddy", "go daddy", "hyatt", "hilton", "marriott", "steam",
    "playstation", "xbox", "nintendo", "microsoft", "adobe", "dropbox", "zoom", "walmart",
    "target", "costco", "whole foods", "holland & barrett", "superdrug", "wh smith",
)  # fmt: skip
# Brands that are also everyday words need a capital letter to count.
_CASE_SENSITIVE = frozenset(
    {"target", "shell", "sky", "boots", "wise", "steam", "bolt", "apple"}
    | {"visa", "mastercard", "zoom", "subway"}
)
_BRAND = re.compile(
    r"(?<![\w&])(?:"
    + "|".join(re.escape(b) for b in sorted(_BRANDS, key=len, reverse=True))
    + r")(?:'s)?(?![\w&])",
    _I,
)

# Spending categories: after "spent on" they are not merchants.
_CATEGORY_TEXT = """
    groceries grocery petrol fuel gas food restaurants restaurant bars bar pubs pub
    take out takeout takeaway take away eating out coffee clothes clothing shopping
    travel holiday holidays hotels hotel flights transport rent bills
    utilities electricity water insurance pharmacy medicine health hair beauty gym
    subscriptions subscription entertainment games video games books charity donations
    tax taxes news newspapers delivery drinks alcohol family kids pets education
    rental bikes dentist cinema music streaming online shopping fees interest extra
    drinking eating drinks snacks
    that this it them those these something anything everything one
"""
_CATEGORIES = frozenset(_CATEGORY_TEXT.split())
# Words that end a name: "paid Waitrose yesterday", "at amazon prime during May".
_STOP_TEXT = """
    this last next on in at for to from since during between until till yesterday today
    tomorrow and or but so because the a an my your was is are were be been using with via
    by before after when while then overall again please right now as if that which who it
    i me still already recently lately ago did didn't has have had stores store shop
    webshop atm atms website app account card payment payments every each must will would
    can could should may might do does not no any some all more less than
"""
_STOP = frozenset(_STOP_TEXT.split())
_PREPOSITION = re.compile(r"\b(?P<prep>at|in|on|for|to|from|with)\s+(?=\S)", _I)
_BARE_CUE = re.compile(r"\b(?:paid|pay|visited)\s+(?=[A-Z])")
_STRONG_CUE = re.compile(r"\bdirect\s+debits?\b[^.?!]{0,40}$", _I)
_WEAK_CUE = re.compile(
    r"\b(?:spen[dt]|spending|pa(?:y|id)|paying|buy|bought|shop(?:ped|ping)?|purchases?|"
    r"charged|payments?|transactions?|refunds?|rejected|declined|contactless|standing\s+orders?|"
    r"subscriptions?)\b(?:\s+\S+){0,7}\s*$",
    _I,
)
_WORD = re.compile(r"[A-Za-z][\w&'.-]*|&")
_NEXT_WORD = re.compile(r"\s+([A-Za-z][\w&'-]*)")
_PERSONISH = frozenset(
    {"my", "his", "her", "their", "our", "mum", "mom", "dad", "sister", "brother", "friend"}
    | {"wife", "husband"}
)


def _run(text: str, start: int, capitalised: bool) -> tuple[int, int] | None:
    """The name starting at `start`: capitalised words, or up to 3 lower-case ones."""
    end = start
    count = 0
    for match in _WORD.finditer(text, start):
        if (count == 0 and match.start() != start) or text[end : match.start()].strip():
            break  # the name starts right at `start`; punctuation between words ends it
        word = match.group(0)
        bare = word.casefold().removesuffix("'s")
        if bare in _STOP and not (word[0].isupper() and count):
            break
        if capitalised and not (word[0].isupper() or word == "&"):
            break
        if not capitalised and (word[0].isupper() or count >= 3):
            break
        end = match.end()
        count += 1
    return (start, end) if count else None


def _extend(text: str, end: int, *, capitalised: bool, context: Context) -> int:
    """A brand followed by its own words: "Amazon Shopping", "hyatt regency"."""
    for _ in range(2):
        match = _NEXT_WORD.match(text, end)
        if match is None:
            break
        word = match.group(1)
        bare = word.casefold()
        if bare in _STOP or bare in context.common_words or bare in _CATEGORIES:
            break
        if word[0].isupper() != capitalised:
            break
        end = match.end()
    return end


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    # "Godaddy's webshop" names Godaddy: a trailing possessive is not part of the name.
    name = re.sub(r"(?:'s)?[.,!?;:]*$", "", text[start:end])
    return start, start + len(name)


def find_merchants(text: str, context: Context) -> Iterator[Candidate]:
    for match in _BRAND.finditer(text):
        found = match.group(0)
        if found.casefold().removesuffix("'s") in _CASE_SENSITIVE and not found[0].isupper():
            continue
        end = _extend(text, match.end(), capitalised=found[0].isupper(), context=context)
        yield Candidate("company_name", match.start(), end, text[match.start() : end], 2)
    starts = [(m.end(), m.group("prep").casefold()) for m in _PREPOSITION.finditer(text)]
    starts += [(m.end(), "") for m in _BARE_CUE.finditer(text)]
    for start, preposition in starts:
        before = text[max(0, start - 70) : start]
        before = before[: len(before) - len(preposition)] if preposition else before
        strong = _STRONG_CUE.search(before.rstrip() + " ") is not None
        weak = _WEAK_CUE.search(before.rstrip()) is not None or not preposition
        if not (strong or weak):
            continue
        capitalised = text[start].isupper()
        span = _run(text, start, capitalised)
        if span is None:
            continue
        begin, end = _trim(text, *span)
        name = text[begin:end]
        words = name.casefold().split()
        if not words or words[0] in _PERSONISH or name.casefold() in _CATEGORIES:
            continue
        # Lower case after a weak cue: an everyday word ("in total", "to use") or a likely
        # person ("payment to kisha") is no merchant.
        if not (capitalised or strong) and (
            preposition == "to" or words[0] in _CATEGORIES or words[0] in context.common_words
        ):
            continue
        yield Candidate("company_name", begin, end, name, 1)
