"""The synthetic population simulator: a calibrated, deterministic population in the data contract's format."""

from features.simulation.calibration import CalibrationRow
from features.simulation.config import SimulationConfig
from features.simulation.errors import SimulationError
from features.simulation.run import TRUTH_DIR, SimulationSummary, simulate

__all__ = [
    "simulate",
    "SimulationConfig",
    "SimulationSummary",
    "CalibrationRow",
    "SimulationError",
    "TRUTH_DIR",
]
