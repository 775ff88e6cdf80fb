"""The optional sentence encoder that lifts intent accuracy on uncertain messages."""

from handoff.understanding.encoder.runtime import SentenceEncoder
from handoff.understanding.encoder.source import EncoderSource, find_encoder, load_encoder

__all__ = ["EncoderSource", "SentenceEncoder", "find_encoder", "load_encoder"]
