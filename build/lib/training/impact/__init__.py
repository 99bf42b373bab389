"""Impact evaluation of the caseload: did enrolment reduce urgent care use, net of regression to the mean."""

from training.impact.config import MEASURES, PATHWAY_CODE, ImpactConfig
from training.impact.enrolment import Enrolments, extract_enrolments
from training.impact.errors import ImpactError
from training.impact.report import ImpactFiles, log_impact_run, write_impact
from training.impact.run import ImpactResult, evaluate_impact

__all__ = [
    "ImpactConfig",
    "ImpactError",
    "ImpactFiles",
    "ImpactResult",
    "Enrolments",
    "MEASURES",
    "PATHWAY_CODE",
    "evaluate_impact",
    "extract_enrolments",
    "log_impact_run",
    "write_impact",
]
