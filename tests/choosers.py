"""Answering the console's file and folder choosers as a person would: the path typed into
the chooser and its accept button pressed (the choosers never block the window)."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog


def choose(chooser: QFileDialog, path) -> None:
    assert isinstance(chooser, QFileDialog) and chooser.isVisible()
    chooser.selectFile(str(path))
    chooser.accept()
    assert not chooser.isVisible(), "the chooser refused the path"


def cancel(chooser: QFileDialog) -> None:
    assert chooser.isVisible()
    chooser.reject()
