"""Pieces every dialog uses: the red message beside a field, and the OK/Cancel row, both
named for screen readers and tests."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPushButton

from console.ui import theme
from console.ui.tiles import name_widget

ERROR_STYLE = f"color: {theme.ALARM_BG['high']}; font-weight: bold;"


def message_label(name: str, spoken: str) -> QLabel:
    """Where a dialog says what is wrong (a refusal, a bad value), in words."""
    label = name_widget(QLabel(""), name, spoken)
    label.setWordWrap(True)
    label.setStyleSheet(ERROR_STYLE)
    return label


def dialog_buttons(dialog: QDialog, ok_text: str, ok_name: str, on_ok: Callable[[], None],
                   ok_spoken: str | None = None, cancel_name: str | None = None
                   ) -> tuple[QDialogButtonBox, QPushButton]:
    """The accept button (``on_ok`` decides whether the dialog may close) and Cancel."""
    box = QDialogButtonBox()
    ok = name_widget(box.addButton(ok_text, QDialogButtonBox.ButtonRole.AcceptRole), ok_name, ok_spoken or ok_text)
    cancel = name_widget(box.addButton(QDialogButtonBox.StandardButton.Cancel),
                         cancel_name or ok_name.rsplit(".", 1)[0] + ".cancel", "Cancel")
    ok.clicked.connect(on_ok)
    cancel.clicked.connect(dialog.reject)
    return box, ok
