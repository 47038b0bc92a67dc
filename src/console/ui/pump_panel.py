"""The pump panel: what the pump is doing, against what the plan says it should do.

Rate and dose rate are what is being delivered now (0 unless RUNNING); the programmed dose
rate is shown beside it as such. The state takes the colour of the pump's alarm priority. The
note under the progress bar says what the delivered figure rests on (the plan's concentration
when the pump gives none, the volume a nurse read off the pump), an estimated start, and the
standing notice of a pump declared without an interface.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QProgressBar, QVBoxLayout

from console.alarms.engine import PUMP_WORDS
from console.alarms.model import RANK
from console.drivers import rack_choice
from console.pump_watch import delivered
from console.session import Session
from console.ui import theme
from console.ui.tiles import UNAVAILABLE_TEXT, name_widget


def _mmss(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60:d}:{seconds % 60:02d}"


def _num(value, fmt: str) -> str:
    return UNAVAILABLE_TEXT if not isinstance(value, (int, float)) else format(value, fmt)


class PumpPanel(QFrame):
    FIELDS = (
        # key, caption, spoken name (drug and state sit in the title row)
        ("rate", "Rate", "Pump rate"),
        ("dose_rate", "mg/kg/h", "Pump dose rate delivered now, programmed in brackets"),
        ("volume", "Infused", "Volume infused of volume to be infused"),
        ("dose", "Delivered", "Delivered dose"),
        ("dose_per_kg", "Per kg", "Delivered dose per kilogram"),
        ("battery", "Battery", "Pump battery"),
        ("elapsed", "Elapsed", "Infusion time elapsed"),
        ("remaining", "Remaining", "Infusion time remaining"),
    )

    def __init__(self) -> None:
        super().__init__()
        name_widget(self, "pump", "Pump panel")
        self.setProperty("panel", True)
        self.setStyleSheet(f"QFrame#pump {{ background: {theme.PANEL}; border: 1px solid "
                           f"{theme.PANEL_EDGE}; border-radius: 4px; }}"
                           " QLabel { background: transparent; }")
        title = self.title = name_widget(QLabel("PUMP"), "pump.title", "Pump panel title: which pump of the rack")
        title.setStyleSheet(f"color: {theme.PARAMETER['PUMP']}; font-size: 18px; font-weight: bold;")
        value_style = (f"color: {theme.PARAMETER['PUMP']}; font-size: 16px; font-weight: bold;"
                       f" font-family: '{theme.DIGIT_FAMILY}';")
        drug = name_widget(QLabel(UNAVAILABLE_TEXT), "pump.drug", "Pump drug and concentration")
        drug.setStyleSheet(value_style.replace("16px", "14px"))  # the title row fits the state beside it
        state = name_widget(QLabel(UNAVAILABLE_TEXT), "pump.state", "Pump state")
        state.setStyleSheet(value_style.replace("16px", "18px"))
        head = QHBoxLayout()
        head.addWidget(title)
        head.addSpacing(10)
        head.addWidget(drug)
        head.addStretch(1)
        head.addWidget(state)
        self.value_style = value_style
        self.notes = name_widget(QLabel(""), "pump.notes", "Pump notes: dose source, start, notices")
        self.notes.setStyleSheet(f"color: {theme.ALARM_BG['medium']}; font-size: 13px;")
        self.notes.setWordWrap(True)
        self.plan_note = name_widget(QLabel(""), "pump.plan", "Dose plan")
        self.plan_note.setStyleSheet(f"color: {theme.TEXT_DIM}; font-size: 14px;")
        self.plan_note.setWordWrap(True)
        grid = QGridLayout()
        grid.setHorizontalSpacing(4)  # the panel's fixed 470 px hold the widest values
        grid.setVerticalSpacing(2)  # the bottom row of the monitor is short: the notes must fit too
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        self.values: dict[str, QLabel] = {"drug": drug, "state": state}
        for i, (key, caption, spoken) in enumerate(self.FIELDS):
            cap = QLabel(caption)
            cap.setStyleSheet(f"color: {theme.TEXT_DIM}; font-size: 13px;")
            val = name_widget(QLabel(UNAVAILABLE_TEXT), f"pump.{key}", spoken)
            val.setStyleSheet(value_style)
            val.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
            row, col = divmod(i, 2)
            grid.addWidget(cap, row, col * 2)
            grid.addWidget(val, row, col * 2 + 1)
            self.values[key] = val
        self.progress = name_widget(QProgressBar(), "pump.progress", "Infusion progress")
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("no plan")
        box = QVBoxLayout(self)
        box.setContentsMargins(10, 4, 10, 4)
        box.setSpacing(3)
        box.addLayout(head)
        box.addLayout(grid)
        box.addWidget(self.progress)
        box.addWidget(self.notes)
        box.addWidget(self.plan_note)

    def refresh(self, session: Session, now: float) -> None:
        # In a rack, the pump the plan names, as the nurse finds it (its slot or serial).
        choice = rack_choice(session.devices["pump"].url)
        self.title.setText(f"PUMP {choice}" if choice else "PUMP")
        word = session.word
        plan = session.plan
        link = session.link_shown("pump", now)
        v = self.values
        watch = session.pump_watch
        figure = delivered(session, watch.manual_end, watch.manual_start) if watch else delivered(session)
        self._show_notes(session, watch, figure, now)
        self._show_state_colour([])
        if link in ("lost", "down") or session.devices["pump"].last_valid_rx is None:
            reason = {"lost": "pump link lost", "down": "pump link lost",
                      "none": "no pump connected"}.get(link, "no data from pump")
            for key, label in v.items():
                label.setText(UNAVAILABLE_TEXT if key != "state" else reason)
            self.progress.setValue(0)
            self.progress.setFormat(reason)
            if figure.mg is not None:  # the volume a nurse read off the pump
                v["dose"].setText(f"{figure.mg:.1f}" + (f" / {plan.total_mg:.1f}" if plan else "") + " mg")
            self.plan_note.setText(self._plan_text(session, short=bool(self.notes.text())))
            return
        conc = word("PUMP_CONC")
        drug = word("PUMP_DRUG") or "?"
        has_conc = isinstance(conc, (int, float)) and conc > 0
        v["drug"].setText(f"{drug} {conc:.2f} mg/mL" if has_conc else f"{drug}, no conc.")
        alarms = word("PUMP_ALARM") or []
        state = str(word("PUMP_STATE") or UNAVAILABLE_TEXT)
        v["state"].setText(state + (f" \u2013 {'|'.join(alarms)}" if alarms else ""))
        self._show_state_colour(alarms)
        running = state == "RUNNING"
        rate = word("PUMP_RATE")
        v["rate"].setText(f"{_num(rate if running else 0.0, '.1f')} mL/h")
        v["dose_rate"].setText(self._dose_rate_text(session, running, figure.concentration))
        vi, vtbi = word("PUMP_VI"), word("PUMP_VTBI")
        v["volume"].setText(f"{_num(vi, '.1f')} / {_num(vtbi, '.1f')} mL")
        mg = figure.mg
        weight = plan.dosing_weight_kg if plan else word("PUMP_WEIGHT")
        target = f" / {plan.total_mg:.1f}" if plan else ""
        v["dose"].setText(f"{_num(mg, '.1f')}{target} mg")
        per_kg = mg / weight if mg is not None and weight else None
        planned = f" / {plan.dose_mg_per_kg:.2f}" if plan else ""
        v["dose_per_kg"].setText(f"{_num(per_kg, '.2f')}{planned} mg/kg")
        batt = word("PUMP_BATT")
        v["battery"].setText(f"{_num(batt, '.0f')} %" if isinstance(batt, (int, float)) else UNAVAILABLE_TEXT)
        elapsed = session.elapsed_infusion_s(now)
        v["elapsed"].setText(self._elapsed_text(session, watch, now))
        remaining = self._remaining_s(session, elapsed)
        v["remaining"].setText(_mmss(remaining) if remaining is not None else UNAVAILABLE_TEXT)
        total_ml = plan.volume_ml if plan else vtbi
        if isinstance(vi, (int, float)) and isinstance(total_ml, (int, float)) and total_ml > 0:
            frac = min(1.0, vi / total_ml)
            self.progress.setValue(int(frac * 1000))
            self.progress.setFormat(f"{frac * 100:.0f} % of {'plan' if plan else 'VTBI'}")
        else:
            self.progress.setValue(0)
            self.progress.setFormat("no volume programmed")
        self.plan_note.setText(self._plan_text(session, short=bool(self.notes.text())))

    def _show_state_colour(self, alarms: list) -> None:
        """The pump's alarm words in their priority colour (unknown words are high)."""
        priorities = [PUMP_WORDS.get(w, ("high", ""))[0] for w in alarms]
        top = max(priorities, key=RANK.__getitem__) if priorities else None
        style = self.value_style.replace("16px", "18px")
        if top is not None:
            style = (f"color: {theme.ALARM_FG[top]}; background: {theme.ALARM_BG[top]}; font-size: 16px;"
                     f" font-weight: bold; font-family: '{theme.DIGIT_FAMILY}'; padding: 0 4px;")
        label = self.values["state"]
        if label.styleSheet() != style:
            label.setStyleSheet(style)
        label.setProperty("priority", top or "")

    @staticmethod
    def _dose_rate_text(session: Session, running: bool, conc: float | None) -> str:
        """Delivered now (rate x concentration / dosing weight, 0 unless RUNNING) and the
        programmed dose rate as such."""
        rate, programmed = session.word("PUMP_RATE"), session.word("PUMP_DOSE_RATE")
        weight = session.plan.dosing_weight_kg if session.plan else session.word("PUMP_WEIGHT")
        now_rate = None
        if not running:
            now_rate = 0.0
        elif isinstance(rate, (int, float)) and conc is not None and isinstance(weight, (int, float)) and weight > 0:
            now_rate = rate * conc / weight
        set_text = f" (set {programmed:.2f})" if isinstance(programmed, (int, float)) else ""
        return f"{_num(now_rate, '.2f')}{set_text}"  # the caption carries the unit: the column fits

    @staticmethod
    def _elapsed_text(session: Session, watch, now: float) -> str:
        est = watch.first_start if watch else None
        if est is not None:
            if est.at is not None:
                return f"~{_mmss(now - est.at)} est."
            return f"\u2265 {_mmss(now - est.latest)}"  # started between: at least this long
        if watch is not None and watch.manual_start is not None:
            end = watch.manual_end.time if watch.manual_end else now
            return f"{_mmss(end - watch.manual_start.time)} (nurse)"
        elapsed = session.elapsed_infusion_s(now)
        return _mmss(elapsed) if elapsed is not None else "not started"

    def _show_notes(self, session: Session, watch, figure, now: float) -> None:
        parts = []
        if figure.words:
            parts.append(f"Delivered: {figure.words}")
        if watch is not None:
            if watch.first_start is not None:
                parts.append(f"Pump seen running after a link gap: {watch.first_start.words()}")
            if watch.notice(session, now):
                parts.append(watch.notice(session, now))
        text = "\n".join(parts)
        if self.notes.text() != text:
            self.notes.setText(text)
        self.notes.setVisible(bool(text))

    @staticmethod
    def _remaining_s(session: Session, elapsed: float | None) -> float | None:
        """What the pump will really take: volume left at the current rate. The plan's
        clock would be wrong after a pause or an occlusion."""
        vi, vtbi, rate = session.word("PUMP_VI"), session.word("PUMP_VTBI"), session.word("PUMP_RATE")
        if all(isinstance(x, (int, float)) for x in (vi, vtbi, rate)) and rate > 0:
            return max(0.0, (vtbi - vi) / rate * 3600.0)
        if session.plan and elapsed is not None:
            return max(0.0, session.plan.duration_min * 60.0 - elapsed)
        return None

    @staticmethod
    def _plan_text(session: Session, short: bool = False) -> str:
        """The plan in words; ``short`` (one line) when the notes above need the room."""
        p = session.plan
        if p is None:
            w, conc, vtbi = (session.word(k) for k in ("PUMP_WEIGHT", "PUMP_CONC", "PUMP_VTBI"))
            return (f"No plan set \u2013 pump programme: VTBI {_num(vtbi, '.1f')} mL, "
                    f"CONC {_num(conc, '.2f')} mg/mL, WEIGHT {_num(w, '.1f')} kg")
        if short:
            return f"Plan: {p.total_mg:.1f} mg over {p.duration_min:g} min, {p.rate_ml_per_h:.1f} mL/h"
        return (f"Plan: {p.weight_kg:g} kg \u00d7 {p.dose_mg_per_kg:g} mg/kg = {p.total_mg:.1f} mg "
                f"over {p.duration_min:g} min \u2013 {p.rate_ml_per_h:.1f} mL/h, "
                f"{p.dose_rate_mg_per_kg_per_h:.2f} mg/kg/h")
