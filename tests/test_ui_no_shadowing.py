"""Issue 11: F7 'Alarm off' could crash the console: its combo box was an attribute named
``metric``, which shadows QPaintDevice.metric(), a virtual Qt calls while painting. Every
widget and dialog class of console.ui is scanned for data attributes (``self.x = ...`` in any
method, or a class-level value) whose name is an attribute of its Qt base class."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import textwrap

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QWidget

import console.ui

pytestmark = pytest.mark.gui


def ui_widget_classes() -> list[type]:
    for info in pkgutil.iter_modules(console.ui.__path__):
        importlib.import_module(f"console.ui.{info.name}")
    found, todo = [], [QWidget]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("console.ui"):
                found.append(sub)
    return sorted(set(found), key=lambda c: (c.__module__, c.__qualname__))


def qt_base(cls: type) -> type:
    return next(c for c in cls.__mro__ if c.__module__.startswith("PySide6"))


def data_attributes(cls: type) -> set[str]:
    """Names assigned as ``self.NAME`` anywhere in the class, and class-level values."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    names: set[str] = set()
    body = tree.body[0].body
    for node in body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for el in (t.elts if isinstance(t, ast.Tuple) else [t]):
                    if isinstance(el, ast.Attribute) and isinstance(el.value, ast.Name) and el.value.id == "self":
                        names.add(el.attr)
    return names


CLASSES = ui_widget_classes()


def test_the_scan_finds_the_widgets_and_dialogs():
    names = {c.__name__ for c in CLASSES}
    assert {"AlarmOffDialog", "LimitsDialog", "NumericTile", "AlarmBar", "MainWindow"} <= names


@pytest.mark.parametrize("cls", [pytest.param(c, id=f"{c.__module__}.{c.__qualname__}") for c in CLASSES])
def test_no_attribute_shadows_a_qt_method(cls):
    qt = set(dir(qt_base(cls)))
    shadowing = sorted(n for n in data_attributes(cls) if n in qt)
    assert not shadowing, f"{cls.__qualname__} assigns {shadowing}, which {qt_base(cls).__name__} defines"


def test_the_alarm_off_dialog_opens_paints_and_switches_off(qtbot):
    """The dialog F7 opens is shown and painted (metric() is called while painting)."""
    from console.alarms.engine import AlarmEngine
    from console.clinical import load_protocol
    from console.ui.alarm_dialogs import AlarmOffDialog

    engine = AlarmEngine(load_protocol(), user="nurse.a")
    dialog = AlarmOffDialog(engine, lambda: 100.0)
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.grab().isNull()
    assert dialog.metric_choice.findData("SPO2") >= 0
