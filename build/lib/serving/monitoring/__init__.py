"""Monitoring of extracts and lists: feeds, codes, recording lag, drift, backtests and staleness, with alerts."""

from serving.monitoring.alerts import KINDS, SEVERITIES, Alert
from serving.monitoring.config import MonitorConfig
from serving.monitoring.gate import GateDecision, decide, parse_acceptance
from serving.monitoring.report import DriftInputs, MonitorReport, home_report_dir, read_report, run_monitor, write_report

__all__ = [
    "Alert",
    "KINDS",
    "SEVERITIES",
    "MonitorConfig",
    "GateDecision",
    "decide",
    "parse_acceptance",
    "DriftInputs",
    "MonitorReport",
    "run_monitor",
    "write_report",
    "read_report",
    "home_report_dir",
]
