"""The one prediction path (DESIGN §7, issue 6 item 1) for the Predict view, batch files, the CLI and the service.

- `ModelRegistry` (`registry`) loads the model of each active local deployment once and keeps it,
  after checking the deployment's signature, the model file's SHA-256 and the library versions
  recorded at training (`loading`).
- `predict_rows` (`inference`) validates rows against the model's ``schema.json`` (`validation`, the
  one set of input rules) and answers in the seed's format plus per-row warnings (unseen category,
  value outside the training range). `predict_table` / `predict_frame` and `write_predictions`
  (`batch_files`) do the same for batch files, cell by cell: a bad cell refuses its row, reported by
  row and column (`write_error_report`), and the other rows are predicted. `MicroBatcher`
  (`batching`) merges the service's concurrent requests.
- Predictions call the fitted pipeline itself (`running`, through `core.modeling.pipeline`) — never
  PyCaret's ``predict_model``, which was measured 7–10× slower. Better still, each loaded pipeline is
  compiled into numpy operations (`core.modeling.fast_path`, 30-50× cheaper for one row) and the
  compiled form is used only once it gave the same answers as the pipeline on generated rows at load
  (`LoadedModel.fast_path` says which path a model uses, and why).
- Unpickling happens in one place, `core.modeling.pipeline.load_pipeline`, and only for files this app
  wrote and whose hash still matches.

Callers import from the package (``from predictml_desktop.core.prediction import predict_rows``).
"""

from __future__ import annotations

from predictml_desktop.core.prediction.answers import PredictionResult, class_key
from predictml_desktop.core.prediction.batch_files import (
    FRAME_CHUNK_ROWS,
    STREAM_CHUNK_ROWS,
    ScoredTable,
    WrittenBatch,
    predict_file,
    predict_frame,
    predict_table,
    read_input_file,
    stream_predictions,
)
from predictml_desktop.core.prediction.batch_outputs import (
    OUTPUT_SUFFIXES,
    SPREADSHEET_MAX_ROWS,
    check_output_path,
    error_report_path,
    write_error_report,
    write_predictions,
)
from predictml_desktop.core.prediction.batching import MicroBatcher
from predictml_desktop.core.prediction.errors import (
    BatchTooLargeError,
    FieldProblem,
    InputValidationError,
    ModelFailedError,
    ModelIntegrityError,
    ModelNotDeployedError,
    PredictionError,
    RecordsUnavailableError,
    VersionDriftError,
)
from predictml_desktop.core.prediction.frames import frame_dtypes, rows_to_frame
from predictml_desktop.core.prediction.inference import predict_rows, predict_validated
from predictml_desktop.core.prediction.loading import (
    FAST_PATH_PENDING,
    FAST_PATH_PROBE_ROWS,
    LoadedModel,
    attach_fast_path,
    load_schema,
    load_verified,
)
from predictml_desktop.core.prediction.registry import ModelRegistry
from predictml_desktop.core.prediction.running import rows_to_batch
from predictml_desktop.core.prediction.validation import (
    CATEGORY_CODE_LIMIT,
    MAX_BATCH_ROWS,
    MAX_CELL_CHARS,
    NUMBER_LIMIT,
    CellProblem,
    ValidatedRows,
    ValidatedTable,
    category_type,
    parse_date,
    validate_input,
    validate_rows,
    validate_table,
)

__all__ = [
    "CATEGORY_CODE_LIMIT",
    "FAST_PATH_PENDING",
    "FAST_PATH_PROBE_ROWS",
    "FRAME_CHUNK_ROWS",
    "MAX_BATCH_ROWS",
    "MAX_CELL_CHARS",
    "NUMBER_LIMIT",
    "OUTPUT_SUFFIXES",
    "SPREADSHEET_MAX_ROWS",
    "STREAM_CHUNK_ROWS",
    "BatchTooLargeError",
    "CellProblem",
    "FieldProblem",
    "InputValidationError",
    "LoadedModel",
    "MicroBatcher",
    "ModelFailedError",
    "ModelIntegrityError",
    "ModelNotDeployedError",
    "ModelRegistry",
    "PredictionError",
    "PredictionResult",
    "RecordsUnavailableError",
    "ScoredTable",
    "ValidatedRows",
    "ValidatedTable",
    "VersionDriftError",
    "WrittenBatch",
    "attach_fast_path",
    "category_type",
    "check_output_path",
    "class_key",
    "error_report_path",
    "frame_dtypes",
    "load_schema",
    "load_verified",
    "parse_date",
    "predict_file",
    "predict_frame",
    "predict_rows",
    "predict_table",
    "predict_validated",
    "read_input_file",
    "rows_to_batch",
    "rows_to_frame",
    "stream_predictions",
    "validate_input",
    "validate_rows",
    "validate_table",
    "write_error_report",
    "write_predictions",
]
