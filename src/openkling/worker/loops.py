"""The worker's loops run under the one supervisor every process kind shares (`core/loops.py`:
the relay's tracker loops run under it too); imported from here by the worker's modules."""

from openkling.core.loops import Loops, LoopState, Turn

__all__ = ["LoopState", "Loops", "Turn"]
