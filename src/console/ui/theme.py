"""Colours, fonts and the style sheet: one place, so every widget speaks the same visual language.

Parameter colours follow common bedside-monitor practice (ECG/HR green, SpO2/pleth cyan,
respiration/CO2 yellow, NIBP white, temperature magenta). Alarm colours are IEC 60601-1-8's
(CLINICAL.md section 6): high red, medium yellow, low cyan. Alarm colour fills a tile's
background, so it is never confused with the parameter colour of the digits.
"""

from __future__ import annotations

BACKGROUND = "#000000"
PANEL = "#0d1117"
PANEL_EDGE = "#2a313c"
TEXT = "#e6edf3"
TEXT_DIM = "#8b949e"
UNAVAILABLE = "#8b949e"

PARAMETER = {
    "HR": "#00e676",
    "ECG": "#00e676",
    "PR": "#00e5ff",
    "SPO2": "#00e5ff",
    "PLETH": "#00e5ff",
    "PI": "#00e5ff",
    "RR": "#ffd600",
    "ETCO2": "#ffd600",
    "CO2": "#ffd600",
    "RESP": "#ffd600",
    "NIBP": "#f0f0f0",
    "NIBP_SYS": "#f0f0f0",
    "NIBP_DIA": "#f0f0f0",
    "NIBP_MEAN": "#f0f0f0",
    "TEMP": "#ff80ff",
    "PUMP": "#ffab40",
    "PUMP_RATE": "#ffab40",
    "DOSE_MG": "#ff9e80",
}

ALARM_BG = {"high": "#d50000", "medium": "#ffd600", "low": "#00b8d4"}
ALARM_FG = {"high": "#ffffff", "medium": "#000000", "low": "#000000"}
LINK = {"none": "#8b949e", "up": "#00e676", "waiting": "#ffd600", "connecting": "#ffd600", "lost": "#ff1744",
        "down": "#ff1744"}
SIMULATION = "#ff6d00"
REVIEW = "#7c4dff"  # recorded sessions (review and replay): violet, never mistaken for live

FONT_FAMILY = "DejaVu Sans"
DIGIT_FAMILY = "DejaVu Sans Mono"  # fixed-width digits: values never shift as they change

# The black background is painted by windows, dialogs and scroll areas only: every other
# widget is transparent over them. A background on every QWidget made each container
# (layouts inside layouts) fill the same black again on every frame: about 0.5 ms of a
# 5 ms monitor frame (bench/bench_frame.py).
STYLE_SHEET = f"""
QWidget {{ color: {TEXT}; font-family: "{FONT_FAMILY}"; font-size: 13px; }}
QMainWindow, QDialog, QMessageBox, QAbstractScrollArea, QAbstractItemView,
InstructorPanel, TrendsView, VitalsTableView {{ background: {BACKGROUND}; }}
QFrame#panel, QFrame[panel="true"] {{ background: {PANEL}; border: 1px solid {PANEL_EDGE}; border-radius: 4px; }}
QTabWidget::pane {{ border: 0; }}
QTabBar::tab {{ background: {PANEL}; color: {TEXT_DIM}; padding: 6px 10px; border: 1px solid {PANEL_EDGE};
               border-bottom: 0; font-size: 14px; }}
QTabBar::tab:selected {{ color: {TEXT}; background: #161b22; font-weight: bold; }}
QPushButton {{ background: #21262d; border: 1px solid {PANEL_EDGE}; border-radius: 4px; padding: 6px 14px; }}
QPushButton:hover {{ background: #30363d; }}
QPushButton:focus {{ border: 2px solid #58a6ff; }}
QLineEdit, QComboBox, QSpinBox, QDoubleSpinBox {{ background: #0d1117; border: 1px solid {PANEL_EDGE};
               border-radius: 3px; padding: 4px; }}
QProgressBar {{ border: 1px solid {PANEL_EDGE}; border-radius: 3px; background: #161b22; text-align: center;
               color: {TEXT}; height: 18px; }}
QProgressBar::chunk {{ background: {PARAMETER["PUMP"]}; }}
QLabel[role="caption"] {{ color: {TEXT_DIM}; font-size: 12px; }}
QTableWidget {{ gridline-color: {PANEL_EDGE}; }}
QHeaderView::section {{ background: {PANEL}; color: {TEXT_DIM}; border: 0; padding: 4px; }}
"""
