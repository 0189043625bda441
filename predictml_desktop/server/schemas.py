"""Per-dataset request models generated from a model's ``schema.json``, and the service's OpenAPI document.

Each deployed dataset gets a pydantic model of one input row, so ``/openapi.json`` describes every
feature and the same model validates requests. The HTTP API is strict, on purpose (a default
pydantic model silently accepts ``NaN``, ``Infinity``, ``"3.5"`` and ``true`` for a number):

- numbers must be JSON numbers (``"3.5"`` and ``true`` are refused), finite, and within ±1e22;
- a whole-number feature has ``multipleOf: 1`` (``3.0`` is accepted, ``3.5`` is not);
- ``null`` is accepted only for features that had missing values in training;
- strings hold at most 32,767 characters (Excel's cell limit);
- extra keys in a row are accepted and ignored (MLflow's semantics: clients often send the whole
  original row, target and ID columns included); the answer lists them in ``ignoredColumns``;
- a date feature is a string; one that cannot be read as a date is treated as missing, with a warning.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, TypeAdapter, create_model

from predictml_desktop.core.artifacts import FeatureSpec, InputSchema
from predictml_desktop.core.prediction import CATEGORY_CODE_LIMIT, MAX_CELL_CHARS, NUMBER_LIMIT, category_type

_ROW_CONFIG = ConfigDict(strict=True, extra="allow", allow_inf_nan=False, populate_by_name=False)


def _pascal(text: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", text)
    name = "".join(w[:1].upper() + w[1:] for w in words) or "Dataset"
    return name if name[0].isalpha() else "D" + name


def _exact_bound(limit: float) -> BeforeValidator:
    def check(value: Any) -> Any:
        # Pydantic turns an int into a float before checking ge/le, so 10**22 + 1 would round to
        # 1e22 and pass; JSON Schema (and the core) compare it exactly and refuse it.
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > limit:
            raise ValueError(f"is beyond ±{limit:g}")
        return value

    return BeforeValidator(check)


_BOUNDED = _exact_bound(NUMBER_LIMIT)
_BOUNDED_CODE = _exact_bound(CATEGORY_CODE_LIMIT)


def _feature_type(spec: FeatureSpec) -> Any:
    # The Field before the validator: pydantic then writes minimum/maximum/multipleOf into the
    # JSON schema (after it, they leak out as unknown "ge"/"le" keys that clients ignore).
    number = Annotated[float, Field(ge=-NUMBER_LIMIT, le=NUMBER_LIMIT), _BOUNDED]
    text = Annotated[str, Field(max_length=MAX_CELL_CHARS)]
    kind = spec.kind
    base: Any
    if kind == "numeric":
        base = (Annotated[float, Field(ge=-NUMBER_LIMIT, le=NUMBER_LIMIT, multiple_of=1), _BOUNDED]
                if spec.integer else number)
    elif kind == "boolean":
        base = bool
    elif kind == "categorical":
        ct = category_type(spec)
        if ct == "str":
            base = text
        elif ct == "int":
            # A whole number; 3.0 is as good as 3 (JSON Schema's "integer" says the same).
            base = Annotated[float, Field(ge=-CATEGORY_CODE_LIMIT, le=CATEGORY_CODE_LIMIT, multiple_of=1),
                             _BOUNDED_CODE]
        elif ct == "float":
            base = number
        elif ct == "bool":
            base = bool
        else:
            base = text | number
    else:  # text, datetime
        base = text
    return base | None if spec.nullable else base


def _description(spec: FeatureSpec) -> str:
    parts = [f"{spec.kind} feature"]
    if spec.kind == "numeric" and spec.minimum is not None and spec.maximum is not None:
        parts.append(f"training range {spec.minimum:g} to {spec.maximum:g} (outside it: a warning)")
    if spec.categories:
        shown = ", ".join(map(str, spec.categories[:10]))
        more = ", ..." if len(spec.categories) > 10 else ""
        parts.append(f"seen in training: {shown}{more} (others: a warning)")
    if spec.nullable:
        parts.append("null accepted (imputed)")
    return "; ".join(parts) + "."


def _example(spec: FeatureSpec) -> Any:
    value = spec.default
    if value is None or isinstance(value, bool) != (spec.kind == "boolean"):
        return None
    if spec.kind == "numeric":
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        # The median of a whole-number column can be x.5; an example must be valid input.
        return round(value) if spec.integer else value
    return value if isinstance(value, (str, int, float)) else None


def row_model(dataset_id: str, schema: InputSchema) -> type[BaseModel]:
    """Return the pydantic model of one input row of a dataset's model.

    Feature names become aliases, so any column name (spaces, leading digits, non-ASCII) works.
    """
    fields: dict[str, Any] = {}
    for i, spec in enumerate(schema.features):
        extra: dict[str, Any] = {}
        example = _example(spec)
        if example is not None:
            extra["examples"] = [example]
        fields[f"f{i}"] = (
            _feature_type(spec),
            Field(alias=spec.name, title=spec.name, description=_description(spec), **extra),
        )
    model: type[BaseModel] = create_model(
        f"{_pascal(dataset_id)}Row", __config__=_ROW_CONFIG, **fields
    )
    return model


def _input_type(row: type[BaseModel], max_rows: int) -> Any:
    def pick(value: Any) -> str:
        return "rows" if isinstance(value, list) else "row"

    rows = Annotated[list[row], Field(min_length=1, max_length=max_rows)]  # type: ignore[valid-type]
    return Annotated[Annotated[row, Tag("row")] | Annotated[rows, Tag("rows")], Discriminator(pick)]


_EXPLAIN_FIELD: Any = (bool, Field(
    default=False,
    description="Also answer each row's explanation (`explanations`): every input column's signed contribution "
                "to the answer. Without it the answer keeps the seed's format exactly."))


class DatasetModels:
    """The request models of one deployed dataset."""

    def __init__(self, dataset_id: str, schema: InputSchema, max_rows: int) -> None:
        self.dataset_id = dataset_id
        self.schema = schema
        self.row = row_model(dataset_id, schema)
        name = _pascal(dataset_id)
        input_type = _input_type(self.row, max_rows)
        self.request: type[BaseModel] = create_model(
            f"{name}PredictRequest",
            __config__=ConfigDict(strict=True, extra="ignore"),
            inputData=(input_type, Field(description="One row (an object) or a batch (a list of objects).")),
            explain=_EXPLAIN_FIELD,
        )
        self.seed_request: type[BaseModel] = create_model(
            f"{name}SeedRequest",
            __config__=ConfigDict(strict=True, extra="ignore"),
            datasetId=(Literal[dataset_id], Field(description="The dataset whose model answers.")),  # type: ignore[arg-type]
            inputData=(input_type, Field(description="One row (an object) or a batch (a list of objects).")),
            explain=_EXPLAIN_FIELD,
        )
        self.request_adapter = TypeAdapter(self.request)
        self.seed_adapter = TypeAdapter(self.seed_request)


class ErrorResponse(BaseModel):
    """Every error answer: the seed's ``success``/``error`` plus a stable code and details."""

    model_config = ConfigDict(extra="allow")

    success: Literal[False] = False
    error: str
    error_code: str
    message: str
    details: Any = None


class PredictResponse(BaseModel):
    """The seed's answer, plus per-row warnings and the ignored input columns."""

    model_config = ConfigDict(extra="allow")

    success: Literal[True] = True
    datasetId: str
    modelName: str
    prediction: list[Any]
    probability: list[dict[str, float | None]] | None = Field(
        default=None, description="Classifiers only: one object per row, keys class_<label>.")
    warnings: list[list[str]] = Field(description="Per row: unseen categories, values outside the training range.")
    ignoredColumns: list[str] = Field(description="Input keys the model does not use.")


class RowExplanation(BaseModel):
    """Why one row got its answer: each input column's signed contribution (``"explain": true``)."""

    method: str = Field(description='How the contributions were computed: "TreeSHAP (exact)", "linear (exact)", '
                                    '"weighted ensemble of exact contributions (...)" or "sampling SHAP '
                                    '(approximate, N permutations)".')
    exact: bool = Field(description="False for the sampling method (its sum is still exact; the split is estimated).")
    explains: Literal["probability", "value"] = Field(
        description="Classifiers: the probability of `explainedClass` (contributions in probability, 0.12 = 12 "
                    "points); regressors: the predicted value.")
    explainedClass: Any = Field(description="The class whose probability is explained (null for regressors).")
    baseValue: float | None = Field(description="The answer the contributions start from (a typical row's, or "
                                                "the trees' average).")
    output: float | None = Field(description="The explained answer: baseValue plus the sum of the contributions.")
    contributions: dict[str, float | None] = Field(description="Input column → signed contribution.")


class ExplainedPredictResponse(PredictResponse):
    """The answer to a request with ``"explain": true``: the seed's answer plus one explanation per row."""

    explanations: list[RowExplanation] = Field(description="One per row, in the rows' order.")


ERROR_STATUSES: dict[int, str] = {
    400: "Malformed request: invalid JSON, not an object, or an invalid Host header.",
    401: "The API key is missing or wrong.",
    404: "Model not deployed (no active deployment for this dataset).",
    409: "The deployment or model file was altered, or the model needs other library versions.",
    413: "The body is larger than the limit, or the batch has too many rows.",
    415: "The body is not application/json (UTF-8).",
    422: "A feature is missing, has the wrong type or an invalid value (the field is named).",
    429: "Too many requests in flight; retry shortly.",
}
