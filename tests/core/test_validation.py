"""A batch file's cells get exactly the verdict a request gets (core.prediction.validation).

`validate_column` checks plain numeric columns in one vectorised pass and every other cell with the
request checks; these tests compare it, cell by cell, with `validate_rows` on the same value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from predictml_desktop.core.input_schema import FeatureSpec, InputSchema
from predictml_desktop.core.prediction import InputValidationError, validate_rows, validate_table
from predictml_desktop.core.prediction.validation import validate_column

SPECS = [
    FeatureSpec("n", "numeric", dtype="float64", minimum=-5.0, maximum=50.0),
    FeatureSpec("n", "numeric", dtype="float64", nullable=True),
    FeatureSpec("n", "numeric", dtype="int64", integer=True, minimum=0, maximum=10),
    FeatureSpec("n", "categorical", dtype="int64", categories=[0, 1, 2]),
    FeatureSpec("n", "categorical", dtype="float64", categories=[0.5, 1.5], nullable=True),
    FeatureSpec("n", "categorical", dtype="object", categories=["a", "b"]),
    FeatureSpec("n", "boolean", dtype="object", categories=["yes", "no"]),
    FeatureSpec("n", "datetime", dtype="object", default="2020-06-01T00:00:00", nullable=True),
    FeatureSpec("n", "text", dtype="object"),
]

CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-20, max_value=60).map(lambda x: round(x, 1)),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.integers(min_value=-3, max_value=12),
    st.sampled_from(["", " ", "abc", "7", " 3.0 ", "1e23", "inf", "a", "yes", "2021-02-03", "someday", "1,000.5"]),
    st.none(),
)


def _request_verdict(spec: FeatureSpec, value: Any) -> tuple[Any, str | None, str | None]:
    schema = InputSchema(target="y", problem_type="classification", features=[spec])
    try:
        checked = validate_rows(schema, [{spec.name: value}], strict=False, single=True)
    except InputValidationError as exc:
        return None, None, exc.problems[0].message
    return checked.rows[0][spec.name], (checked.warnings[0][0] if checked.warnings[0] else None), None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return bool(a == b) and type(a) is type(b)


def _check_column(spec: FeatureSpec, raw: pd.Series) -> None:
    values, warnings, problems = validate_column(spec, raw)
    for i, cell in enumerate(raw.tolist()):
        if cell is not None and not isinstance(cell, str) and pd.isna(cell):
            cell = None  # a missing cell is missing whatever pandas made of it
        value, warning, problem = _request_verdict(spec, cell)
        got_problem = problems[i].message if i in problems else None
        assert got_problem == problem, (spec, cell)
        if problem is None:
            assert _same(values[i], value), (spec, cell, values[i], value)
            assert warnings.get(i) == warning, (spec, cell)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.kind}-{s.dtype}-{'null' if s.nullable else 'required'}")
@settings(max_examples=60, deadline=None)
@given(cells=st.lists(CELLS, min_size=1, max_size=25))
def test_every_cell_gets_the_verdict_of_a_request(spec: FeatureSpec, cells: list[Any]) -> None:
    _check_column(spec, pd.Series(cells, dtype=object))  # as text and mixed cells come from a file
    numbers = [c for c in cells if isinstance(c, float)]
    if numbers:
        _check_column(spec, pd.Series(numbers, dtype="float64"))  # a column the reader parsed as numbers
    ints = [c for c in cells if isinstance(c, int) and abs(c) < 2**62]
    if ints:
        _check_column(spec, pd.Series(ints, dtype="int64"))


def test_a_bad_cell_refuses_its_row_only() -> None:
    schema = InputSchema(target="y", problem_type="classification", features=[
        FeatureSpec("age", "numeric", dtype="int64", integer=True, minimum=18, maximum=80),
        FeatureSpec("plan", "categorical", dtype="object", categories=["basic", "gold"]),
    ])
    frame = pd.DataFrame({"age": ["41", "old", None, "33"], "plan": ["gold", "basic", "gold", "platinum"],
                          "extra": [1, 2, 3, 4]})
    table = validate_table(schema, frame)
    assert [(p.row, p.column, p.value) for p in table.problems] == [(1, "age", "old"), (2, "age", None)]
    assert table.problems[0].message == "age must be a number, not 'old'."
    assert table.problems[1].message == "age is required: it had no missing values in training."
    assert table.refused_rows == [1, 2]
    assert table.columns["age"][0] == 41.0 and table.columns["plan"][3] == "platinum"
    assert table.warnings[3] == ["plan='platinum' was not seen in training; the model treats it as an unknown "
                                 "category."]
    with pytest.raises(InputValidationError, match="missing 1 column"):
        validate_table(schema, frame.drop(columns=["plan"]))
