"""The model card: one self-contained HTML report per job (issue 5 item 6), ``models/<jobId>/report.html``.

It holds the data summary and warnings, the leaderboard, the chosen model, the holdout metrics,
the plots (PNG files of the engine's ``plots/`` folder, embedded), the policy gates, and the
decision with its reason. The UI shows it and prints it to PDF with Qt; nothing here imports Qt.
Every value from the records is HTML-escaped: column names and reasons are user text.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

from predictml_desktop.core.artifacts import LEADERBOARD_FILE, PLOTS_DIR, REPORT_FILE, read_json, write_json
from predictml_desktop.core.paths import Paths
from predictml_desktop.core.records import Dataset, TrainingJob
from predictml_desktop.core.store import Store, atomic_write_bytes

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;color:#222;max-width:60em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}.pass{color:#176b2c}.warn{color:#8a5a00}.block{color:#a11}.muted{color:#666}
img{max-width:100%;margin:.5em 0;border:1px solid #eee}
"""

_OUTCOME_LABEL = {"pass": "Pass", "warn": "Warning", "block": "Blocks approval"}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.4g}"
    return _e(value)


def _table(rows: list[dict[str, Any]], columns: list[str] | None = None, limit: int = 50) -> str:
    if not rows:
        return '<p class="muted">None recorded.</p>'
    cols = columns or list(dict.fromkeys(k for r in rows for k in r if not isinstance(r.get(k), (dict, list))))
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in cols) + "</tr>" for r in rows[:limit]
    )
    more = f'<p class="muted">{len(rows) - limit} more rows not shown.</p>' if len(rows) > limit else ""
    return f"<table><tr>{head}</tr>{body}</table>{more}"


def _kv(pairs: list[tuple[str, Any]]) -> str:
    return "<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in pairs) + "</table>"


def _flat_metrics(metrics: dict[str, Any]) -> list[tuple[str, Any]]:
    holdout = metrics.get("holdout")
    if not isinstance(holdout, dict):
        holdout = metrics
    return [(k, v) for k, v in holdout.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)]


def _plots(model_dir: Path) -> str:
    folder = model_dir / PLOTS_DIR
    if not folder.is_dir():
        return '<p class="muted">No plots were saved.</p>'
    parts = []
    for png in sorted(folder.glob("*.png")):
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        title = png.stem.replace("_", " ").capitalize()
        parts.append(f"<h3>{_e(title)}</h3><img alt=\"{_e(title)}\" src=\"data:image/png;base64,{data}\">")
    return "".join(parts) or '<p class="muted">No plots were saved.</p>'


def _warnings_of(job: TrainingJob, dataset: Dataset | None) -> list[dict[str, Any]]:
    # The job's own check (its target, the columns it trained on) when it has one; else the profile's.
    found = job.data_warnings if job.data_warnings is not None else (dataset.warnings if dataset else [])
    return [w for w in found if isinstance(w, dict)]


def render_model_card(
    job: TrainingJob,
    dataset: Dataset | None,
    *,
    model_dir: Path,
    gates: list[Any] | None = None,
) -> str:
    """Return the model card of ``job`` as one HTML document.

    Parameters
    ----------
    job
        The training job (its metrics, leaderboard and review are shown).
    dataset
        Its dataset (name, rows, warnings), if still present.
    model_dir
        The job's artifact folder (leaderboard and plots are read from it).
    gates
        Policy gate results (`core.governance.GateResult` or their dicts).
    """
    title = f"Model card — {job.model_name or 'model'} for {dataset.name if dataset else job.dataset_id}"
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p class=\"muted\">Job {_e(job.id)} · dataset {_e(job.dataset_id)} · status {_e(job.status)}</p>",
        "<h2>Data</h2>",
        _kv([
            ("Dataset", dataset.name if dataset else job.dataset_id),
            ("File", dataset.file_name if dataset else None),
            ("Rows", dataset.rows if dataset else job.samples),
            ("Columns", len(dataset.columns) if dataset else None),
            ("Target", job.target_column),
            ("Problem type", job.problem_type),
            ("Features used", job.features),
        ]),
        "<h3>Data warnings</h3>",
        _table(_warnings_of(job, dataset), ["column", "message"]),
        "<h2>Chosen model</h2>",
        _kv([
            ("Model", job.model_name),
            ("Trained", job.finished_at or job.started_at),
            ("Training time (s)", job.duration_s),
            ("Model SHA-256", job.model_sha256),
        ]),
        "<h2>Holdout metrics</h2>",
        _kv(_flat_metrics(job.metrics)) if job.metrics else '<p class="muted">None recorded.</p>',
        "<h2>Leaderboard</h2>",
        _table(_leaderboard_of(job, model_dir)),
        "<h2>Plots</h2>",
        _plots(model_dir),
        "<h2>Policy gates</h2>",
        _gates_html(gates),
        "<h2>Decision</h2>",
        _decision_html(job.review or {}),
        "</body></html>\n",
    ]
    return "".join(parts)


def _leaderboard_of(job: TrainingJob, model_dir: Path) -> list[dict[str, Any]]:
    try:
        doc = read_json(model_dir / LEADERBOARD_FILE)
        rows = doc.get("leaderboard", doc.get("rows")) if isinstance(doc, dict) else doc
        if isinstance(rows, list) and rows:
            return [r for r in rows if isinstance(r, dict)]
    except Exception:  # noqa: BLE001 - a missing leaderboard file falls back to the job record's copy
        pass
    return job.leaderboard


def _gates_html(gates: list[Any] | None) -> str:
    gate_rows = [g.to_dict() if hasattr(g, "to_dict") else dict(g) for g in (gates or [])]
    if not gate_rows:
        return '<p class="muted">Not evaluated.</p>'
    parts = ["<table><tr><th>Gate</th><th>Result</th><th>Detail</th></tr>"]
    for g in gate_rows:
        outcome = str(g.get("outcome"))
        label = _OUTCOME_LABEL.get(outcome, outcome)
        parts.append(
            f"<tr><td>{_e(g.get('title'))}</td><td class=\"{_e(outcome)}\">{_e(label)}"
            f"</td><td>{_e(g.get('message'))}</td></tr>"
        )
    parts.append("</table>")
    return "".join(parts)


def _decision_html(review: dict[str, Any]) -> str:
    if not review:
        return '<p class="muted">No decision yet.</p>'
    overridden = review.get("overriddenGates") or []
    approvers = review.get("approvers") or []
    return _kv([
        ("Decision", review.get("decision")),
        ("By", review.get("by")),
        ("Approved by", " and ".join(str(a) for a in approvers) if len(approvers) > 1 else None),
        ("At", review.get("at")),
        ("Reason", review.get("reason")),
        ("Overridden warnings", ", ".join(str(g.get("title", g.get("gate"))) for g in overridden) or "none"),
    ])


def write_model_card(paths: Paths, job_id: str, *, gates: list[Any] | None = None) -> Path:
    """Write ``models/<jobId>/report.html`` for a job and return its path.

    Parameters
    ----------
    paths
        The data home.
    job_id
        The job.
    gates
        Policy gate results to include (see `core.governance.Governance.evaluate_gates`).
    """
    snapshot = Store(paths).read()
    job = snapshot.jobs.get(job_id)
    dataset = snapshot.datasets.find(job.dataset_id)
    model_dir = paths.model_dir(job_id)
    model_dir.mkdir(parents=True, exist_ok=True)
    text = render_model_card(job, dataset, model_dir=model_dir, gates=gates)
    path = model_dir / REPORT_FILE
    atomic_write_bytes(path, text.encode("utf-8"), keep_backup=False)
    if gates is not None:
        write_json(model_dir / "gates.json", {"gates": [g.to_dict() if hasattr(g, "to_dict") else g for g in gates]})
    return path


def write_pinned_card(paths: Paths, job: TrainingJob, relative: str, *, gates: list[Any] | None = None) -> Path:
    """Write the model card an approval pins (``models/<jobId>/<relative>``), for ``job`` as it is approved.

    The card shows the job with its approval (``job`` is the record as it will be stored) and is
    never written again; `core.evidence` records its hash.

    Parameters
    ----------
    paths
        The data home.
    job
        The job with the approval's review (not yet stored).
    relative
        Where, inside the job's folder (`core.evidence.card_name`).
    gates
        The policy gates the admin saw.
    """
    dataset = Store(paths).read().datasets.find(job.dataset_id)
    model_dir = paths.model_dir(job.id)
    path = model_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_model_card(job, dataset, model_dir=model_dir, gates=gates)
    atomic_write_bytes(path, text.encode("utf-8"), keep_backup=False)
    return path
