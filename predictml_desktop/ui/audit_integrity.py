"""The audit trail's verification, shown above the trail: "Verified: intact (N entries)" or where the chain breaks.

The core verifies (`Governance.verify_audit`: the hash chain against the signed head) on a worker
thread; an admin acknowledges the breaks it reports, with a reason, through the same
`DecisionRunner` as every decision (the password is asked again when the core wants it). The
acknowledgement is itself an audit entry; the breaks stay listed, marked acknowledged.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from predictml_desktop.core.audit_chain import ChainReport
from predictml_desktop.core.governance import Governance
from predictml_desktop.ui import widgets
from predictml_desktop.ui.decisions import DecisionRunner, SessionProvider
from predictml_desktop.ui.tasks import Tasks

OK_COLOUR, BROKEN_COLOUR, PLAIN_COLOUR = "#176b2c", "#a11", "#444"


class AuditIntegrityBar(QWidget):
    """The chain's state (verified on a worker thread) and, for an admin, Acknowledge.

    Parameters
    ----------
    governance
        The core's governance object.
    session_provider
        Returns the admin tab's open session (None when locked).
    """

    verified = Signal(object)
    """The trail was verified; carries the `ChainReport`."""

    acknowledged = Signal()
    """An admin acknowledged the reported breaks (the trail has a new entry)."""

    def __init__(self, governance: Governance, session_provider: SessionProvider,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.governance = governance
        self.tasks = Tasks(self)
        self.report: ChainReport | None = None
        self._generation = 0
        self.decisions = DecisionRunner(governance, session_provider, self)
        self.decisions.failed.connect(lambda _action, message: self._show_error(message))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        self.status_label = QLabel("Verifying the audit trail…")
        self.status_label.setWordWrap(True)
        self.status_label.setTextFormat(Qt.TextFormat.RichText)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label.setAccessibleName("Audit trail verification")
        self.verify_button = widgets.button("&Verify", self.verify, name="Verify the audit trail")
        top.addWidget(self.status_label, 1)
        top.addWidget(self.verify_button)
        layout.addLayout(top)
        self.breaks_label = QLabel()
        self.breaks_label.setWordWrap(True)
        self.breaks_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.breaks_label.setAccessibleName("Where the audit trail breaks")
        layout.addWidget(self.breaks_label)
        row = QHBoxLayout()
        self.reason_edit = QLineEdit()
        self.reason_edit.setAccessibleName("Why the breaks are acknowledged")
        self.reason_edit.setPlaceholderText("why the breaks are accepted (recorded)")
        self.reason_edit.textChanged.connect(self._update_buttons)
        self.acknowledge_button = widgets.button("Ac&knowledge", self.acknowledge,
                                                 name="Acknowledge the breaks in the audit trail")
        row.addWidget(self.reason_edit, 1)
        row.addWidget(self.acknowledge_button)
        layout.addLayout(row)
        self._update_buttons()

    # ------------------------------------------------------------------ verifying

    def verify(self) -> None:
        """Verify the chain against its signed head off the GUI thread."""
        self._generation += 1
        generation = self._generation
        self.tasks.start(self.governance.verify_audit, on_result=lambda r: self._on_verified(r, generation),
                         on_error=self._show_error)

    def _on_verified(self, report: ChainReport, generation: int) -> None:
        if generation != self._generation:
            return
        self.report = report
        if report.status in ("empty", "unchained"):
            colour, symbol, word = PLAIN_COLOUR, "●", "Not chained yet"
        elif report.ok:
            colour, symbol, word = OK_COLOUR, "✔", "Verified"
        else:
            colour, symbol, word = BROKEN_COLOUR, "✖", "Not intact"
        self.status_label.setText(f'<span style="color:{colour}">{symbol} <b>{word}</b>: the audit trail is '
                                  f"{html.escape(report.message)}.</span>")
        lines = []
        for b in report.breaks:
            where = f"line {b.line}" if b.line else "its end"
            state = "acknowledged" if b.acknowledged else "not acknowledged"
            lines.append(f"• At {where} ({state}): {b.message}.")
        lines += [f"• {note}" for note in report.notes]
        self.breaks_label.setText("\n".join(lines))
        self.breaks_label.setVisible(bool(lines))
        self._update_buttons()
        self.verified.emit(report)

    def _show_error(self, message: str) -> None:
        self.status_label.setText(f'<span style="color:{BROKEN_COLOUR}">{html.escape(message)}</span>')
        self._update_buttons()

    def _update_buttons(self) -> None:
        broken = self.report is not None and not self.report.ok
        self.reason_edit.setVisible(broken)
        self.acknowledge_button.setVisible(broken)
        self.acknowledge_button.setEnabled(broken and bool(self.reason_edit.text().strip())
                                           and not self.decisions.busy)
        self.acknowledge_button.setToolTip("" if self.reason_edit.text().strip() else "Write the reason first.")

    # ------------------------------------------------------------------ acknowledging

    def acknowledge(self) -> None:
        """Acknowledge the reported breaks with the reason typed (an audit entry, under the admin's name)."""
        reason = self.reason_edit.text().strip()
        if not reason or self.report is None or self.report.ok:
            return

        def done(report: ChainReport) -> None:
            self.reason_edit.clear()
            self._on_verified(report, self._generation)
            self.acknowledged.emit()

        self.decisions.run("acknowledge_audit", "acknowledge the breaks in the audit trail",
                           lambda session: self.governance.acknowledge_audit(session, reason), step_up=True,
                           on_success=done)
        self._update_buttons()
