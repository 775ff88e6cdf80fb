"""Speech in and out: ports, the engines behind them, and a fake pair for tests.

Importing this package (and `ports`, `fake`, `config`, `factory`) needs no speech
library; the engines' modules (`whisper`, `vad`, `piper`) need the `speech` extra and are
imported by `factory` only when asked for.
"""
