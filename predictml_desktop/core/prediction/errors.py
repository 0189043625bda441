"""The refusals of the prediction path: each maps to an HTTP status and code, with one sentence for people."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class FieldProblem:
    """One invalid input value: where it is and what is wrong with it."""

    field: str
    """The feature name, or ``inputData[3].age`` style for a batch row."""
    message: str
    code: str = "invalid_value"

    def to_dict(self) -> dict[str, str]:
        """Return the JSON form used in error details."""
        return {"field": self.field, "message": self.message, "code": self.code}


class PredictionError(Exception):
    """A prediction that cannot be made; ``status`` and ``code`` map it to an HTTP answer."""

    status = 400
    code = "BAD_REQUEST"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_response(self) -> dict[str, Any]:
        """Return the error body: the seed's ``success``/``error`` plus a code and details."""
        return {
            "success": False,
            "error": self.message,
            "error_code": self.code,
            "message": self.message,
            "details": self.details,
        }


class ModelNotDeployedError(PredictionError):
    """No active local deployment for the dataset (the seed's "Model not deployed")."""

    status = 404
    code = "MODEL_NOT_DEPLOYED"


class ModelIntegrityError(PredictionError):
    """The deployment record or the model file was altered after approval; nothing is unpickled."""

    status = 409
    code = "MODEL_INTEGRITY"


class VersionDriftError(PredictionError):
    """The model was trained with other library versions than the running ones."""

    status = 409
    code = "VERSION_DRIFT"


class InputValidationError(PredictionError):
    """Input that does not fit the model's schema; ``problems`` names every bad field."""

    status = 422
    code = "INVALID_INPUT"

    def __init__(self, problems: list[FieldProblem], *, code: str | None = None) -> None:
        self.problems = problems
        if code:
            self.code = code
        first = problems[0].message if problems else "The input is invalid."
        more = f" ({len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        super().__init__(first + more, details=[p.to_dict() for p in problems[:100]])

    @property
    def field(self) -> str | None:
        """The first offending field."""
        return self.problems[0].field if self.problems else None


class BatchTooLargeError(PredictionError):
    """More rows than one request may carry."""

    status = 413
    code = "TOO_MANY_ROWS"


class RecordsUnavailableError(PredictionError):
    """The deployment records cannot be read (a damaged data folder): not the caller's fault."""

    status = 503
    code = "RECORDS_UNAVAILABLE"


class ModelFailedError(PredictionError):
    """The model itself raised on validated input (reported without a traceback)."""

    status = 422
    code = "MODEL_FAILED"
