"""PredictML Desktop: offline AutoML from a table to an approved, served model."""

from __future__ import annotations

__version__ = "0.1.0"
APP_NAME = "PredictML"
