"""Pieces every dialog uses: the red message beside a field, and the OK/Cancel row, both
named for screen readers and tests."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QWidget

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
                   ok_spoken: str | None = None, cancel_name: str | None = None, *,
                   enter_submits: bool = True) -> tuple[QWidget, QPushButton]:
    """The accept button (``on_ok`` decides whether the dialog may close) and Cancel.

    ``enter_submits=False``: neither button is a default button, so Enter in a field (a
    barcode scanner ends every scan with one) never submits; only a click or Space on the
    button does. The buttons are then not in a QDialogButtonBox, which would make its accept
    button the default again when it is shown."""
    cancel_name = cancel_name or ok_name.rsplit(".", 1)[0] + ".cancel"
    if enter_submits:
        box = QDialogButtonBox()
        ok = name_widget(box.addButton(ok_text, QDialogButtonBox.ButtonRole.AcceptRole), ok_name,
                         ok_spoken or ok_text)
        cancel = name_widget(box.addButton(QDialogButtonBox.StandardButton.Cancel), cancel_name, "Cancel")
    else:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addStretch(1)
        ok = name_widget(QPushButton(ok_text), ok_name, ok_spoken or ok_text)
        cancel = name_widget(QPushButton("Cancel"), cancel_name, "Cancel")
        for button in (ok, cancel):
            button.setAutoDefault(False)
            button.setDefault(False)
            row.addWidget(button)
    ok.clicked.connect(on_ok)
    cancel.clicked.connect(dialog.reject)
    return box, ok


def show_beside(dialog) -> None:
    """Show a dialog without blocking the window: never exec(), and not open() either,
    which is window-modal and kept the alarm bar and F5/F6 from the nurse while alarms
    sounded (issue 11). Monitoring, the alarm bar and the alarm keys work behind it."""
    dialog.setModal(False)
    dialog.setWindowModality(Qt.WindowModality.NonModal)
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()


def choose_path(parent: QWidget, name: str, caption: str, on_chosen: Callable[[str], None], *,
                folder: bool = False, save_as: str = "", name_filter: str = "") -> QFileDialog:
    """A file or folder chooser that never blocks the window. Qt's static getters
    (getExistingDirectory, getSaveFileName...) are application-modal, and a modal dialog
    shadows even application-wide shortcuts: F5/F6 did nothing while a nurse picked an
    export folder. ``on_chosen`` gets the path, or "" when the nurse cancels. A second
    request while one is open raises that one: never two choosers stacked."""
    old = getattr(parent, "chooser", None)
    if old is not None:
        if old.isVisible() and old.objectName() == name:
            old.raise_()
            old.activateWindow()
            return old
        old.deleteLater()
    dialog = QFileDialog(parent, caption)
    name_widget(dialog, name, caption)
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)  # a desktop's own chooser is modal
    if folder:
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    elif save_as:
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setOption(QFileDialog.Option.DontConfirmOverwrite, True)  # the writer refuses, in words
        dialog.selectFile(save_as)
    else:
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    if name_filter:
        dialog.setNameFilter(name_filter)
    dialog.fileSelected.connect(on_chosen)
    dialog.rejected.connect(lambda: on_chosen(""))
    show_beside(dialog)
    parent.chooser = dialog  # kept alive while it is shown
    return dialog
