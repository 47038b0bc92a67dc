"""The session tab: what is due, charting (MOAA/S, CADSS, GAD-7, HAM-A, notes, one-key event
markers), the baseline and discharge checks with the values behind them, and the actions of
the session (sign in, patient and plan, titration, proceeding despite baseline BP, ending the
infusion, discharge sign-off). Every action goes to the workflow, which records who and when.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.charting import MOAAS_WORDS
from console.ui import theme
from console.ui.dialog_parts import ERROR_STYLE, show_beside
from console.ui.documentation_box import DocumentationBox
from console.ui.infusion_controls import InfusionControls
from console.ui.tiles import name_widget
from console.ui.trends import clock_text
from console.workflow import Criterion, Phase, SessionWorkflow, WorkflowError

MARK = {True: "\u2713", False: "\u2717", None: "?"}
MARK_COLOUR = {True: theme.LINK["up"], False: theme.ALARM_BG["high"], None: theme.TEXT_DIM}
SCORES = (("CADSS", "CADSS total (0-92)"), ("GAD-7", "GAD-7 total (0-21)"), ("HAM-A", "HAM-A total (0-56)"))


def criteria_html(items: list[Criterion]) -> str:
    return "<br>".join(
        f"<span style='color:{MARK_COLOUR[c.met]}; font-weight:bold'>{MARK[c.met]}</span> "
        f"{c.name}: <span style='color:{theme.TEXT_DIM}'>{c.detail}</span>" for c in items)


def baseline_html(wf: SessionWorkflow, now: float) -> str:
    """The baseline box: its checks until the pump starts; from then on the baseline as it was
    fixed, in two lines (what recovery and discharge are judged against), which leaves the
    middle column the room the discharge criteria and the documentation need."""
    b = wf.baseline(now)
    if wf.phase == Phase.BASELINE or not b.fixed:
        return criteria_html(wf.baseline_checks(now))
    cuff = f"cuff {b.nibp.systolic}/{b.nibp.diastolic} mmHg" if b.nibp else "no cuff reading"
    hr = f"{b.hr_metric} {b.hr:.0f} /min" if b.hr is not None else f"no {b.hr_metric}"
    spo2 = f"SpO\u2082 {b.spo2:.0f} %" if b.spo2 is not None else "no SpO\u2082"
    text = f"Fixed at the pump's start ({clock_text(b.at)}): {cuff}, {hr}, {spo2}"
    if wf.bp_reason:
        text += f"<br><span style='color:{theme.TEXT_DIM}'>Proceeded despite baseline BP: {wf.bp_reason}</span>"
    return text


def discharge_html(wf: SessionWorkflow, now: float) -> str:
    """The discharge box: live criteria from recovery on; before that, which phase it waits
    for (never values judged at another moment); once discharged, the criteria as they stood
    at the sign-off, said so."""
    recovery = wf.protocol.phases.recovery_min
    if wf.phase in (Phase.BASELINE, Phase.INFUSION):
        waits = "the infusion to start" if wf.phase == Phase.BASELINE else "the infusion to end"
        return (f"<span style='color:{theme.TEXT_DIM}'>Waiting for {waits}. The criteria are shown live "
                f"from recovery on; the discharge check follows {recovery:g} min of recovery.</span>")
    if wf.phase == Phase.DISCHARGED:
        signed = next((e for e in reversed(wf.timeline) if e.kind == "sign_off"), None)
        if signed is None:
            return f"Discharged (signed off by {wf.signed_off_by})"
        items = [Criterion(c["name"], c["met"], c["detail"])
                 for c in signed.data.get("criteria", []) + signed.data.get("documentation", [])]
        return (f"As they stood at the sign-off ({clock_text(signed.time)}, {signed.data.get('clinician')}):<br>"
                + criteria_html(items))
    head = ""
    if wf.phase == Phase.RECOVERY and wf.recovery_started is not None:
        head = (f"Recovery: discharge check at {clock_text(wf.recovery_started + recovery * 60)}. "
                "Criteria now:<br>")
    # The documentation's criteria (checks, score, driving, instructions) before the sign-off.
    items = wf.discharge_criteria(now)
    return head + criteria_html(items[:-1] + wf.documentation_criteria(now) + items[-1:])  # sign-off last


class WrappingList(QListWidget):
    """A list whose entries wrap to the width and get the height their text needs.

    Qt's own word-wrapped list items are laid out for a width a little off the one they are
    drawn at and then elide their last line; each item here gets its size from the text at
    the viewport's width, again whenever the width changes."""

    TEXT_SLACK = 8  # the item delegate's text margins

    def add_top(self, text: str) -> None:
        item = QListWidgetItem(text)
        item.setToolTip(text)  # the full text on hover too
        self.insertItem(0, item)
        self._fit(item)

    def _fit(self, item: QListWidgetItem) -> None:
        width = max(50, self.viewport().width() - 2 * self.spacing() - self.TEXT_SLACK)
        height = self.fontMetrics().boundingRect(QRect(0, 0, width, 100_000), Qt.TextFlag.TextWordWrap,
                                                 item.text()).height()
        item.setSizeHint(QSize(width, height + 6))

    def resizeEvent(self, e) -> None:  # Qt override: refit the items to the new width
        super().resizeEvent(e)
        for i in range(self.count()):
            self._fit(self.item(i))


class SessionPanel(QWidget):
    # The window opens these dialogs (it owns them and the workflow's user).
    sign_in_requested = Signal()
    plan_requested = Signal()
    titrate_requested = Signal()
    proceed_requested = Signal()
    end_infusion_requested = Signal()
    confirm_patient_requested = Signal()
    export_requested = Signal()
    chart_requested = Signal()

    def __init__(self, marker_labels: tuple[str, ...]) -> None:
        super().__init__()
        name_widget(self, "sessionpanel", "Session panel")
        self.workflow: SessionWorkflow | None = None

        # --- due now and charting
        self.due = name_widget(QLabel(""), "session.due", "Due now")
        self.due.setWordWrap(True)
        self.due.setStyleSheet(f"font-size: 16px; color: {theme.ALARM_BG['medium']};")
        chart = QGroupBox("Chart")
        grid = QGridLayout(chart)
        grid.addWidget(QLabel("MOAA/S sedation, with each cuff reading"), 0, 0, 1, 3)
        # Each score with its meaning beside it (CLINICAL.md section 3): readable at a glance,
        # never only on hover. Two columns of three keep the chart box short.
        moaas = QGridLayout()
        moaas.setHorizontalSpacing(6)
        moaas.setVerticalSpacing(4)
        self.moaas_buttons = []
        for i, score in enumerate(range(5, -1, -1)):
            words = MOAAS_WORDS[score]
            b = name_widget(QPushButton(str(score)), f"session.moaas.{score}", f"MOAA/S {score}: {words}")
            b.setFixedWidth(44)
            b.setStyleSheet("font-size: 16px; font-weight: bold;")
            b.setToolTip(f"MOAA/S {score}: {words}")
            b.clicked.connect(lambda _=False, v=score: self._chart("MOAA/S", v))
            meaning = name_widget(QLabel(words), f"session.moaas.{score}.meaning", f"MOAA/S {score} means")
            meaning.setWordWrap(True)
            meaning.setStyleSheet(f"color: {theme.TEXT}; font-size: 14px;")
            meaning.setBuddy(b)
            row, col = i % 3, 2 * (i // 3)
            moaas.addWidget(b, row, col, Qt.AlignmentFlag.AlignTop)
            moaas.addWidget(meaning, row, col + 1)
            self.moaas_buttons.append(b)
        moaas.setColumnStretch(1, 1)
        moaas.setColumnStretch(3, 1)
        grid.addLayout(moaas, 1, 0, 1, 3)  # the full width: the meanings wrap less
        self.score_fields: dict[str, QLineEdit] = {}
        for row, (item, label) in enumerate(SCORES, start=2):
            key = item.replace("-", "").lower()
            field = name_widget(QLineEdit(), f"session.{key}", label)
            field.setPlaceholderText(label)
            save = name_widget(QPushButton("Save"), f"session.{key}.save", f"Save {item}")
            save.clicked.connect(lambda _=False, i=item, f=field: self._chart(i, f.text(), f))
            field.returnPressed.connect(save.click)
            grid.addWidget(QLabel(item), row, 0)
            grid.addWidget(field, row, 1)
            grid.addWidget(save, row, 2)
            self.score_fields[item] = field
        self.note = name_widget(QLineEdit(), "session.note", "Note")
        self.note.setPlaceholderText("free-text note")
        add_note = name_widget(QPushButton("Add note"), "session.note.add", "Add note")
        add_note.clicked.connect(self._note)
        self.note.returnPressed.connect(add_note.click)
        grid.addWidget(QLabel("Note"), 5, 0)
        grid.addWidget(self.note, 5, 1)
        grid.addWidget(add_note, 5, 2)
        markers = QGroupBox("Event markers (Alt+1 ... Alt+9)")
        mbox = QGridLayout(markers)  # two columns: the tab fits 1280x800 with nothing cut
        self.marker_buttons = []
        for i, label in enumerate(marker_labels, start=1):
            b = name_widget(QPushButton(f"{label}   Alt+{i}"), f"session.marker.{i}", f"Mark {label}")
            b.clicked.connect(lambda _=False, t=label: self._marker(t))
            if i <= 9:
                QShortcut(QKeySequence(f"Alt+{i}"), self, activated=b.click,
                          context=Qt.ShortcutContext.ApplicationShortcut)
            mbox.addWidget(b, (i - 1) // 2, (i - 1) % 2)
            self.marker_buttons.append(b)
        self.message = name_widget(QLabel(""), "session.message", "Session message")
        self.message.setWordWrap(True)
        self.message.setStyleSheet(ERROR_STYLE)

        left = QVBoxLayout()
        left.addWidget(QLabel("Due now"))
        left.addWidget(self.due)
        left.addWidget(chart)
        left.addWidget(markers)
        left.addWidget(self.message)
        left.addStretch(1)

        # --- checks and discharge
        self.baseline = name_widget(QLabel(""), "session.baseline", "Baseline checks")
        self.baseline.setWordWrap(True)
        self.discharge = name_widget(QLabel(""), "session.discharge", "Discharge criteria")
        self.discharge.setWordWrap(True)
        for label in (self.baseline, self.discharge):  # read from the chair, not only the desk
            label.setStyleSheet("font-size: 14px;")
        escort = name_widget(QPushButton("Escort confirmed"), "session.escort", "Confirm escort")
        escort.clicked.connect(lambda: self._do(self.workflow.confirm_escort))
        resolved = name_widget(QPushButton("Dissociation resolved"), "session.dissociation",
                               "Confirm dissociation resolved")
        resolved.clicked.connect(lambda: self._do(self.workflow.confirm_dissociation_resolved))
        self.clinician = name_widget(QLineEdit(), "session.clinician", "Clinician name for sign-off")
        self.clinician.setPlaceholderText("clinician's name")
        self.signoff_reason = name_widget(QLineEdit(), "session.signoff.reason",
                                          "Reason to sign off with unmet criteria")
        self.signoff_reason.setPlaceholderText("reason, if a criterion is not met")
        driving = name_widget(QPushButton("Told: no driving for 24 h"), "session.driving",
                              "Driving restriction acknowledged")
        driving.clicked.connect(lambda: self._do(self.workflow.acknowledge_driving_restriction))
        instructions = name_widget(QPushButton("Written instructions given"), "session.instructions",
                                   "Written instructions acknowledged")
        instructions.clicked.connect(lambda: self._do(self.workflow.acknowledge_written_instructions))
        sign_off = name_widget(QPushButton("Sign off discharge"), "session.signoff", "Sign off discharge")
        sign_off.clicked.connect(self._sign_off)
        checks = self.baseline_box = QGroupBox("Baseline")
        QVBoxLayout(checks).addWidget(self.baseline)
        dis = QGroupBox("Discharge check (a person decides)")
        dbox = QVBoxLayout(dis)
        dbox.addWidget(self.discharge)
        row = QGridLayout()  # two by two: the middle column stays narrow enough for 1280 px
        for i, b in enumerate((escort, resolved, driving, instructions)):
            row.addWidget(b, i // 2, i % 2)
        dbox.addLayout(row)
        dbox.addWidget(self.clinician)
        dbox.addWidget(self.signoff_reason)
        dbox.addWidget(sign_off)
        middle = QVBoxLayout()
        # Wide enough that the baseline and discharge lists wrap into the height Qt gives them
        # (a word-wrapped label's height is laid out for the column's minimum width).
        checks.setMinimumWidth(480)
        dis.setMinimumWidth(480)  # the same when the baseline box is hidden (from recovery on)
        middle.addWidget(checks)
        middle.addWidget(dis)
        self.infusion = InfusionControls(lambda: self.workflow, lambda: self.refresh(force=True))
        # The nurse's documentation (issue 17) under the discharge check; the nurse-recorded
        # infusion start/end moved beside the session's actions to make the room.
        self.documentation = DocumentationBox(lambda: self.workflow, lambda: self.refresh(force=True))
        middle.addWidget(self.documentation)
        middle.addStretch(1)

        # --- actions and timeline
        actions = QGroupBox("Session")
        abox = QVBoxLayout(actions)
        self.user = name_widget(QLabel(""), "session.user", "Signed-in user")
        self.user.setStyleSheet("font-size: 15px; font-weight: bold;")
        abox.addWidget(self.user)
        for text, name, signal in (
            ("Sign in\u2026  Ctrl+L", "session.signin", self.sign_in_requested),
            ("Patient and plan\u2026  F10", "session.plan", self.plan_requested),
            ("Confirm patient\u2026", "session.confirm_patient", self.confirm_patient_requested),
            ("Proceed despite baseline BP\u2026", "session.proceed", self.proceed_requested),
            ("Titrate rate\u2026", "session.titrate", self.titrate_requested),
            ("End infusion\u2026", "session.end_infusion", self.end_infusion_requested),
            ("Export record (CSV)\u2026  Ctrl+E", "session.export", self.export_requested),
            ("Print / PDF (session chart)\u2026", "session.chart", self.chart_requested),
        ):
            b = name_widget(QPushButton(text), name, text.split("\u2026")[0])
            b.clicked.connect(signal)
            abox.addWidget(b)
        self.timeline = name_widget(WrappingList(), "session.timeline", "Session timeline")
        # Long entries wrap (never cut at the edge).
        self.timeline.setWordWrap(True)
        self.timeline.setResizeMode(QListView.ResizeMode.Adjust)
        self.timeline.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.timeline.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # A scroll bar that comes and goes changes the width the wrapped heights were laid out
        # for, and Qt then elides the last line: keep the width fixed.
        self.timeline.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.timeline.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.timeline.setSpacing(3)  # wrapped entries stay apart
        right = QVBoxLayout()
        right.addWidget(actions)
        right.addWidget(self.infusion)  # nurse-recorded start/end when the pump cannot say
        right.addWidget(QLabel("Timeline"))
        right.addWidget(self.timeline, 1)

        cols = QHBoxLayout(self)
        cols.addLayout(left, 5)
        cols.addLayout(middle, 4)
        cols.addLayout(right, 3)
        self._timeline_shown = 0

    # ------------------------------------------------------------------ actions
    def _do(self, action, *args) -> bool:
        if self.workflow is None:
            return False
        try:
            action(*args)
        except WorkflowError as exc:
            self.message.setText(str(exc))
            return False
        self.message.setText("")
        self.refresh(force=True)
        return True

    def _chart(self, item: str, value, field: QLineEdit | None = None) -> None:
        if self._do(self.workflow.chart, item, value) and field is not None:
            field.clear()

    def _note(self) -> None:
        if self._do(self.workflow.note, self.note.text()):
            self.note.clear()

    def _marker(self, label: str) -> None:
        self._do(self.workflow.marker, label)

    def _sign_off(self) -> None:
        """With every criterion met and no site users, the typed clinician signs off here;
        otherwise the sign-off dialog asks for the PIN and a reason from the list
        (session_dialogs.SignOffDialog), carrying over what was typed here."""
        wf = self.workflow
        if wf is None:
            return
        unmet = [c for c in wf.discharge_criteria() if c.name != "Clinician sign-off" and c.met is not True]
        if not unmet and not getattr(wf.authenticate, "configured", False):
            self._do(lambda: wf.sign_off(self.clinician.text().strip()))
            return
        from console.ui.session_dialogs import SignOffDialog

        dialog = SignOffDialog(wf, self)
        dialog.clinician.setText(self.clinician.text().strip())
        dialog.reason.setText(self.signoff_reason.text().strip())
        dialog.accepted.connect(lambda: self.refresh(force=True))
        show_beside(dialog)  # never modal: monitoring and the alarm keys go on
        self.sign_off_dialog = dialog

    # ------------------------------------------------------------------ view
    def set_workflow(self, workflow: SessionWorkflow) -> None:
        if workflow is not self.workflow:
            self.workflow = workflow
            self.timeline.clear()
            self._timeline_shown = 0
        self.refresh(force=True)

    def refresh(self, force: bool = False) -> None:
        wf = self.workflow
        if wf is None:
            return
        now = wf.clock.now()
        due = wf.due_items(now)
        self.due.setText("<br>".join(f"\u25b6 {d.text}" for d in due) if due else "Nothing due")
        self.user.setText(f"Signed in: {wf.user}" if wf.user else "Not signed in: actions need a name")
        self.baseline.setText(baseline_html(wf, now))
        # From recovery on the discharge criteria give each baseline value beside the current
        # one; the box then gives its room to them and the documentation (1280x800, uncut).
        self.baseline_box.setVisible(wf.phase in (Phase.BASELINE, Phase.INFUSION))
        self.discharge.setText(discharge_html(wf, now))  # every refresh: never stale
        self.documentation.refresh(wf)
        for ev in wf.timeline[self._timeline_shown:]:
            self.timeline.add_top(f"{clock_text(ev.time)}  {ev.text}  ({ev.user})")
        self._timeline_shown = len(wf.timeline)
