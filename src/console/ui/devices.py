"""Device status (link, identity, error counts) and the device picker a nurse uses to connect
without editing files. The picker remembers the last devices and offers them; it never
connects to them by itself."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from console.records import REJECT_REASONS
from console.session import Session
from console.sources import ConnectionRequest, DeviceSpec
from console.ui import theme
from console.ui.dialog_parts import dialog_buttons, message_label
from console.ui.tiles import name_widget

BAUD_RATES = ("9600", "19200", "38400", "57600", "115200")
SETTINGS_ORG, SETTINGS_APP = "infusion-console", "console"


def settings() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, SETTINGS_ORG, SETTINGS_APP)


class DeviceCard(QFrame):
    """One device's link and counts, in words a biomedical engineer can act on."""

    def __init__(self, device: str) -> None:
        super().__init__()
        self.device = device
        title = ("Vitals monitor" if device == "vitals" else "Infusion pump" if device == "pump"
                 else f"Other pump {device.split('-', 1)[-1]} (not the plan's)")
        name_widget(self, f"device.{device}", f"{title} status")
        self.setStyleSheet(f"DeviceCard {{ background: {theme.PANEL}; border: 1px solid "
                           f"{theme.PANEL_EDGE}; border-radius: 4px; }} QLabel {{ background: transparent; }}")
        heading = QLabel(title)
        heading.setStyleSheet("font-size: 18px; font-weight: bold;")
        self.link = name_widget(QLabel("not connected"), f"device.{device}.link", f"{title} link state")
        self.link.setStyleSheet("font-size: 18px; font-weight: bold;")
        self.reason = name_widget(QLabel(""), f"device.{device}.reason", f"{title} link reason")
        self.reason.setWordWrap(True)
        self.reason.setStyleSheet("font-size: 15px;")
        form = QFormLayout()
        self.fields: dict[str, QLabel] = {}
        for key, caption in (("url", "Connection"), ("identity", "Model / serial / firmware"),
                             ("accepted", "Sentences accepted"), ("rejected", "Rejected"),
                             ("lost", "Lost (sequence gaps)"), ("noise", "Noise bytes")):
            label = name_widget(QLabel("\u2013"), f"device.{device}.{key}", f"{title} {caption}")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            form.addRow(QLabel(caption), label)
            self.fields[key] = label
        box = QVBoxLayout(self)
        row = QHBoxLayout()
        row.addWidget(heading)
        row.addStretch(1)
        row.addWidget(self.link)
        box.addLayout(row)
        box.addWidget(self.reason)
        box.addLayout(form)
        box.addStretch(1)

    def refresh(self, session: Session, stats, url: str, now: float) -> None:
        dev = session.devices[self.device]
        shown = session.link_shown(self.device, now)
        text = {"none": "NOT CONNECTED", "up": "CONNECTED", "lost": "LINK LOST",
                "down": "DISCONNECTED", "connecting": "CONNECTING", "waiting": "WAITING FOR DATA"}[shown]
        reason = dev.transport_reason if shown in ("down", "connecting") else ""
        if shown == "lost":
            reason = f"no valid sentence for {session.link_timeout_s:g} s"
        if dev.unsupported_protocol is not None:
            text, shown = "UNSUPPORTED PROTOCOL", "down"
            reason = f"device announced protocol version {dev.unsupported_protocol}; its data is ignored"
        self.link.setText(text)
        self.reason.setText(reason)
        self.link.setStyleSheet(f"font-size: 18px; font-weight: bold; color: {theme.LINK[shown]};")
        f = self.fields
        f["url"].setText(url)
        ident = " / ".join(x for x in (dev.model, dev.serial, dev.firmware) if x)
        f["identity"].setText(ident or "no ID sentence yet")
        f["accepted"].setText(str(dev.accepted))
        total = sum(dev.rejected.values())
        by_reason = ", ".join(f"{r} {dev.rejected[r]}" for r in (*REJECT_REASONS, "unsupported_protocol")
                              if dev.rejected[r])
        f["rejected"].setText(f"{total}" + (f" ({by_reason})" if by_reason else ""))
        f["lost"].setText(str(stats.lost) if stats else "\u2013")
        f["noise"].setText(str(stats.noise_bytes) if stats else "\u2013")


class DevicesView(QWidget):
    connect_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        name_widget(self, "devices", "Devices")
        self.cards = {d: DeviceCard(d) for d in ("vitals", "pump")}
        self.connect_button = name_widget(QPushButton("Connect devices\u2026 (Ctrl+D)"),
                                          "devices.connect", "Connect devices")
        self.connect_button.clicked.connect(self.connect_requested)
        row = QHBoxLayout()
        for card in self.cards.values():
            row.addWidget(card, 1)
        self._row = row
        box = QVBoxLayout(self)
        box.addLayout(row, 1)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.connect_button)
        box.addLayout(bottom)

    def refresh(self, session: Session, stats: dict, urls: dict, now: float) -> None:
        for device in session.devices:
            if device not in self.cards:  # another pump of the rack: a card of its own
                card = self.cards[device] = DeviceCard(device)
                self._row.addWidget(card, 1)
        for device, card in self.cards.items():
            card.refresh(session, stats.get(device), urls.get(device, "not connected"), now)


class DevicePicker(QDialog):
    """Choose the vitals monitor and pump (port list or URL, protocol, baud), or start a
    training simulation. The last choice is remembered and offered, never used silently."""

    def __init__(self, ports: list, scenarios: list[tuple[str, str]], parent: QWidget | None = None,
                 store: QSettings | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect devices")
        name_widget(self, "picker", "Device picker")
        self.store = store or settings()
        self.request: ConnectionRequest | None = None
        port_names = [p.device for p in ports]
        port_help = {p.device: f"{p.device} \u2013 {p.description}" for p in ports}

        def port_box(name: str, spoken: str, remembered: str) -> QComboBox:
            box = name_widget(QComboBox(), name, spoken)
            box.setEditable(True)
            box.setMinimumWidth(340)
            box.addItem("")
            for dev in port_names:
                box.addItem(port_help[dev], dev)
            box.lineEdit().setPlaceholderText("port (/dev/ttyUSB0, COM3) or socket://host:port")
            name_widget(box.lineEdit(), f"{name}.edit", f"{spoken}, typed")
            if remembered:
                box.setEditText(remembered)
            return box

        self.vitals_url = port_box("picker.vitals.url", "Vitals monitor port or URL",
                                   self.store.value("vitals/url", "", str))
        self.vitals_protocol = self._protocol_box("vitals", "Vitals protocol")
        self.vitals_baud = self._baud_box("picker.vitals.baud", "Vitals baud rate",
                                          self.store.value("vitals/baud", "", str))
        self.pump_url = port_box("picker.pump.url", "Pump port or URL", self.store.value("pump/url", "", str))
        self.pump_protocol = self._protocol_box("pump", "Pump protocol")
        self.pump_baud = self._baud_box("picker.pump.baud", "Pump baud rate",
                                        self.store.value("pump/baud", "", str))

        vitals = QGroupBox("Vitals monitor")
        vf = QFormLayout(vitals)
        vf.addRow("Port or URL", self.vitals_url)
        vf.addRow("Protocol", self.vitals_protocol)
        vf.addRow("Baud", self.vitals_baud)
        pump = QGroupBox("Infusion pump")
        pf = QFormLayout(pump)
        pf.addRow("Port or URL", self.pump_url)
        pf.addRow("Protocol", self.pump_protocol)
        pf.addRow("Baud", self.pump_baud)

        training = QGroupBox("Training")
        tf = QFormLayout(training)
        self.scenario = name_widget(QComboBox(), "picker.scenario", "Training scenario")
        for name, description in scenarios:
            self.scenario.addItem(f"{name} \u2013 {description}", name)
        self.scenario.setCurrentIndex(max(0, self.scenario.findData("normal")))  # the usual first lesson
        self.seed = name_widget(QSpinBox(), "picker.seed", "Simulation seed")
        self.seed.setRange(0, 1_000_000)
        self.simulate_button = name_widget(QPushButton("Start training simulation"),
                                           "picker.simulate", "Start training simulation")
        self.simulate_button.clicked.connect(self._simulate)
        tf.addRow("Scenario", self.scenario)
        tf.addRow("Seed", self.seed)
        tf.addRow(self.simulate_button)
        warn = QLabel("Simulated data is shown as SIMULATION and never mixes with a real patient's.")
        warn.setProperty("role", "caption")
        warn.setWordWrap(True)
        tf.addRow(warn)

        buttons, self.connect_button = dialog_buttons(self, "Connect", "picker.connect", self._connect,
                                                      "Connect to devices", "picker.cancel")
        self.error = message_label("picker.error", "Device picker message")
        self.error.setWordWrap(True)

        box = QVBoxLayout(self)
        box.addWidget(vitals)
        box.addWidget(pump)
        box.addWidget(self.error)
        box.addWidget(buttons)
        box.addWidget(training)

    def _protocol_box(self, role: str, spoken: str) -> QComboBox:
        """The drivers that can serve ``role``, from the registry; the last choice remembered."""
        from console.drivers import DEFAULT_DRIVER, for_role

        box = name_widget(QComboBox(), f"picker.{role}.protocol", spoken)
        for d in for_role(role):
            box.addItem(d.title, d.name)
        box.setCurrentIndex(max(0, box.findData(self.store.value(f"{role}/protocol", DEFAULT_DRIVER, str))))
        return box

    @staticmethod
    def _baud_box(name: str, spoken: str, remembered: str) -> QComboBox:
        box = name_widget(QComboBox(), name, spoken)
        box.addItem("protocol default", None)
        for rate in BAUD_RATES:
            box.addItem(rate, int(rate))
        if remembered:
            box.setCurrentIndex(max(0, box.findText(remembered)))
        return box

    @staticmethod
    def _url(box: QComboBox) -> str:
        data = box.currentData()
        text = box.currentText().strip()
        # A listed port shows "device - description"; the item data is the device itself.
        if data and text == box.itemText(box.currentIndex()):
            return str(data)
        return text

    def _connect(self) -> None:
        vitals_url, pump_url = self._url(self.vitals_url), self._url(self.pump_url)
        if not vitals_url and not pump_url:
            self.error.setText("Choose a port or URL for the vitals monitor, the pump, or both "
                               "(or start a training simulation).")
            return
        vitals = DeviceSpec(vitals_url, self.vitals_protocol.currentData(),
                            self.vitals_baud.currentData()) if vitals_url else None
        pump = DeviceSpec(pump_url, self.pump_protocol.currentData(),
                          self.pump_baud.currentData()) if pump_url else None
        self.request = ConnectionRequest(vitals=vitals, pump=pump)
        s = self.store
        s.setValue("vitals/url", vitals_url)
        s.setValue("vitals/protocol", self.vitals_protocol.currentData())
        s.setValue("vitals/baud", self.vitals_baud.currentText() if self.vitals_baud.currentData() else "")
        s.setValue("pump/url", pump_url)
        s.setValue("pump/protocol", self.pump_protocol.currentData())
        s.setValue("pump/baud", self.pump_baud.currentText() if self.pump_baud.currentData() else "")
        s.sync()
        self.accept()

    def _simulate(self) -> None:
        name = self.scenario.currentData()
        if not name:
            QMessageBox.warning(self, "Training", "No training scenario is installed.")
            return
        self.request = ConnectionRequest(simulate=name, seed=self.seed.value())
        self.accept()
