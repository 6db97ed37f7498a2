"""Simulated Shure receivers speaking the real wire protocol on loopback.

Used by the tests, by `micboardd demo` and by `micboardd sim`. A simulated receiver is a
state object (`state.py`), a family renderer (`wire.py`), a real server (`receiver.py`) and
scenario verbs on it; `venue.py` groups receivers and keeps them looking alive.
"""

from micboardd.sim.receiver import SHURE_PORT, SimReceiver
from micboardd.sim.state import MODELS, ChannelState, ModelSpec, ReceiverState, lookup_model
from micboardd.sim.venue import Venue

__all__ = [
    "MODELS",
    "SHURE_PORT",
    "ChannelState",
    "ModelSpec",
    "ReceiverState",
    "SimReceiver",
    "Venue",
    "lookup_model",
]
