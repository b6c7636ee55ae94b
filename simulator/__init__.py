"""A local, protocol-faithful Goofish server: IM WebSocket, token API and admin API.

See ``simulator/README.md``. ``python run.py simulator`` runs it standalone.
"""

from simulator.admin import AdminClient
from simulator.knobs import Knobs
from simulator.server import Simulator, SimulatorHandle, SimulatorUrls

__all__ = ["AdminClient", "Knobs", "Simulator", "SimulatorHandle", "SimulatorUrls"]
