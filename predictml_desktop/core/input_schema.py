"""A model's input schema (``schema.json``): its features, their kinds and training statistics, its classes.

Standard library only: this module is also copied into the Azure ML bundle (`core.azure`), where the
scoring program validates requests with the same rules as the app (`core.prediction.validation`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1

FEATURE_KINDS = ("numeric", "categorical", "boolean", "datetime", "text")
"""Kinds a model input can have. Integer-coded categories are ``categorical`` with integer values."""


YES_WORDS = frozenset({"1", "1.0", "true", "yes", "y", "t", "on"})
NO_WORDS = frozenset({"0", "0.0", "false", "no", "n", "f", "off"})


def class_in_words(label: Any) -> str:
    """Return a class as the sentences say it: ``Yes``/``No`` for a yes/no label (1, True, "y"...), else as is.

    The form's result card words the prediction the same way ("Purchased: Yes"), so the Why panel's
    "lowered the chance of Yes" reads as the answer above it, not as "the chance of 1".
    """
    text = str(label).strip()
    if text.lower() in YES_WORDS:
        return "Yes"
    if text.lower() in NO_WORDS:
        return "No"
    return text


class SchemaError(ValueError):
    """A ``schema.json`` document that does not have the expected shape."""


@dataclass
class FeatureSpec:
    """One input column of a model, as the prediction form and the request validation need it."""

    name: str
    kind: str
    """One of `FEATURE_KINDS`."""
    dtype: str = ""
    """The pandas dtype the column had in training (``int64``, ``float64``, ``object``, ``bool``...)."""
    integer: bool = False
    """Numeric with whole numbers only: a value with a fraction is refused."""
    nullable: bool = False
    """The column had missing values in training, so a missing value is accepted (and imputed)."""
    minimum: float | None = None
    maximum: float | None = None
    median: float | None = None
    categories: list[Any] | None = None
    """The values seen in training (categorical and boolean), most frequent first."""
    default: Any = None
    """The value a form starts with: the median, or the most frequent category."""

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON object stored in ``schema.json``."""
        return asdict(self)


@dataclass
class InputSchema:
    """What a model expects as input and what it answers."""

    target: str
    problem_type: str
    features: list[FeatureSpec]
    classes: list[Any] = field(default_factory=list)
    """Class labels in the order of the model's probability columns (classification only)."""
    positive_class: Any = None
    ignored_columns: list[str] = field(default_factory=list)
    """Columns of the training file that the model does not use (IDs, constants)."""
    decision_threshold: float | None = None
    """Yes/no models: the positive class is answered when its probability is at least this (chosen
    on out-of-fold predictions at training); None means the most probable class."""

    def to_dict(self) -> dict[str, Any]:
        """Return the document stored as ``schema.json``."""
        return {
            "schemaVersion": SCHEMA_VERSION,
            "target": self.target,
            "problemType": self.problem_type,
            "features": [f.to_dict() for f in self.features],
            "classes": self.classes,
            "positiveClass": self.positive_class,
            "ignoredColumns": self.ignored_columns,
            "decisionThreshold": self.decision_threshold,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> InputSchema:
        """Build the schema from a ``schema.json`` document.

        Raises
        ------
        SchemaError
            If the document does not have the expected shape.
        """
        try:
            features = [FeatureSpec(**f) for f in doc["features"]]
            return cls(
                target=doc["target"],
                problem_type=doc["problemType"],
                features=features,
                classes=list(doc.get("classes") or []),
                positive_class=doc.get("positiveClass"),
                ignored_columns=list(doc.get("ignoredColumns") or []),
                decision_threshold=_threshold(doc.get("decisionThreshold")),
            )
        except (KeyError, TypeError) as exc:
            raise SchemaError(f"The model's input schema is malformed ({exc}).") from None

    @property
    def positive_index(self) -> int | None:
        """The probability column the decision threshold applies to (yes/no models with one), else None."""
        if self.decision_threshold is None or len(self.classes) != 2:
            return None
        return 1

    def feature(self, name: str) -> FeatureSpec:
        """Return the spec of one feature (KeyError if the model has no such input)."""
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)


def _threshold(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise SchemaError(f"The model's decision threshold {value!r} is not a probability.")
    return float(value)
