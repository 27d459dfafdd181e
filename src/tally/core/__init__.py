"""Tally's pure core: encoding, crypto, types, state and the state transition.

Nothing here does I/O, reads a clock or draws randomness.
"""
