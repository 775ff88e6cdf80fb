"""Ten banking sentences a customer might say on a call: the word-error-rate set of the
speech tests (issue 6: WER <= 0.2 on them), spoken by the Piper voice."""

SENTENCES = [
    "what are the fees for an international transfer",
    "i want to freeze my card",
    "my card has not arrived yet",
    "how do i change my card limit",
    "i was charged twice for the same payment",
    "what is my account balance",
    "i lost my card yesterday",
    "can you check the status of my transfer",
    "i do not recognise this payment",
    "i want to talk to a person",
]
