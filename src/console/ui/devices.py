"""Device status (link, identity, error counts) and the device picker a nurse uses to connect
without editing files. The picker remembers the last devices and offers them; it never
connects to them by itself."""

from __future__ import annotations

import queue
import threading

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from console.clock import Clock
from console.drivers.intellivue_discovery import (
    CONNECT_INDICATION_PORT,
    DRIVER_NAME,
    MonitorFound,
    listen_for_monitors,
    nothing_found_text,
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
                 else f"Pump {device.split('-', 1)[-1]} (not the plan's)")
        name_widget(self, f"device.{device}", f"{title} status")
        self.setStyleSheet(f"DeviceCard {{ background: {theme.PANEL}; border: 1px solid "
                           f"{theme.PANEL_EDGE}; border-radius: 4px; }} QLabel {{ background: transparent; }}")
        heading = QLabel(title)
        heading.setStyleSheet("font-size: 18px; font-weight: bold;")
        heading.setWordWrap(True)  # a rack's cards share the width: the title wraps, never widens the window
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
            reason = f"no valid sentence for {session.link_timeout(self.device):g} s"
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


class InterfaceCard(QFrame):
    """An outgoing interface's state on the devices tab: the hospital interface (HL7: per
    transaction its engine, what was delivered, what waits and for how long, what the engine
    rejected, the last error) or the central station (its broker, the link, the alarm events
    waiting); or why it is not running. Hidden when the site has none."""

    def __init__(self, key: str, title: str, captions: tuple[tuple[str, str], ...], running: str) -> None:
        super().__init__()
        name_widget(self, f"interface.{key}", f"{title} status")
        self.running = running
        self.setStyleSheet(f"InterfaceCard {{ background: {theme.PANEL}; border: 1px solid "
                           f"{theme.PANEL_EDGE}; border-radius: 4px; }} QLabel {{ background: transparent; }}")
        heading = QLabel(title)
        heading.setStyleSheet("font-size: 18px; font-weight: bold;")
        self.note = name_widget(QLabel(""), f"interface.{key}.note", f"{title} state")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("font-size: 15px;")
        form = QFormLayout()
        self.rows: dict[str, QLabel] = {}
        for row, spoken in captions:
            label = name_widget(QLabel("\u2013"), f"interface.{key}.{row}", f"{title}: {spoken}")
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(QLabel(spoken), label)
            self.rows[row] = label
        self._form = form
        box = QVBoxLayout(self)
        box.addWidget(heading)
        box.addWidget(self.note)
        box.addLayout(form)
        self.setVisible(False)

    def refresh(self, state: list[tuple[str, str]] | None, note: str | None) -> None:
        """``state``: the running interface's rows (Hl7Sink.interface_state,
        CentralPublisher.station_state), None when none runs; ``note``: why it is not running."""
        self.setVisible(state is not None or note is not None)
        self.note.setText(note or (self.running if state is not None else ""))
        given = dict(state or [])
        for row, label in self.rows.items():
            text = given.get(row)
            label.setText(text or "\u2013")
            self._form.setRowVisible(label, text is not None)


def hl7_card() -> InterfaceCard:
    return InterfaceCard("hl7", "Hospital interface (HL7)",
                         (("PCD-01", "Observations (PCD-01)"), ("PCD-04", "Alarms (PCD-04)"),
                          ("PCD-10", "Infusion events (PCD-10)"), ("held", "Held")),
                         "running: every message is kept in the session file until its engine acknowledges it")


def central_card() -> InterfaceCard:
    return InterfaceCard("central", "Central station",
                         (("broker", "Broker"), ("link", "Link"), ("topics", "Topics"), ("alarms", "Alarm events")),
                         "publishing this chair to the central station (a second screen: this console stays "
                         "the alarm source and the record)")


class DevicesView(QWidget):
    connect_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        name_widget(self, "devices", "Devices")
        self.cards = {d: DeviceCard(d) for d in ("vitals", "pump")}
        self.connect_button = name_widget(QPushButton("Connect devices\u2026 (Ctrl+D)"),
                                          "devices.connect", "Connect devices")
        self.connect_button.clicked.connect(self.connect_requested)
        # Three cards a row: the monitor, the plan's pump, then a rack's other pumps below, so a
        # rack of any size fits the 1280 px window (a row of five cards would widen it).
        self._grid = QGridLayout()
        for card in self.cards.values():
            self._place(card)
        self.interface = hl7_card()
        self.central = central_card()
        box = QVBoxLayout(self)
        box.addLayout(self._grid, 1)
        box.addWidget(self.interface)
        box.addWidget(self.central)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.connect_button)
        box.addLayout(bottom)

    COLUMNS = 3

    def _place(self, card: DeviceCard) -> None:
        n = self._grid.count()
        self._grid.addWidget(card, n // self.COLUMNS, n % self.COLUMNS)
        for column in range(self.COLUMNS):
            self._grid.setColumnStretch(column, 1)

    def refresh(self, session: Session, stats: dict, urls: dict, now: float,
                interface: list[tuple[str, str]] | None = None, interface_note: str | None = None,
                central: list[tuple[str, str]] | None = None, central_note: str | None = None) -> None:
        self.interface.refresh(interface, interface_note)
        self.central.refresh(central, central_note)
        for device in session.devices:
            if device not in self.cards:  # another pump of the rack: a card of its own
                card = self.cards[device] = DeviceCard(device)
                self._place(card)
        for device, card in self.cards.items():
            card.refresh(session, stats.get(device), urls.get(device, "not connected"), now)


def simulated_devices(role: str = "vitals") -> list[tuple[str, str]]:
    """(label, "driver/link") of each training monitor (or pump): the simulator's own, in-process
    (""), or the emulator of a real device (simulator.emulated) on a real transport ("<driver>/udp")."""
    from simulator.emulated import PUMP_EMULATORS, VITALS_EMULATORS

    from console.drivers import driver

    words = {"udp": "LAN", "tcp": "LAN", "pty": "serial"}
    emulators = VITALS_EMULATORS if role == "vitals" else PUMP_EMULATORS
    return [("Built-in simulator", "")] + [
        (f"{driver(name).title}, {words.get(link, link)} (emulated)", f"{name}/{link}")
        for name, links in emulators.items() for link in links]


class DevicePicker(QDialog):
    """Choose the vitals monitor and pump (port list or URL, protocol, baud), or start a
    training simulation. The last choice is remembered and offered, never used silently.

    "Find IntelliVue monitors" listens ``discovery_seconds`` (of ``clock`` time) on UDP
    ``discovery_port`` for monitors' connect indications, on a thread of its own: the picker
    stays usable meanwhile. Choosing a monitor found fills in the vitals URL and protocol."""

    def __init__(self, ports: list, scenarios: list[tuple[str, str]], parent: QWidget | None = None,
                 store: QSettings | None = None, *, discovery_port: int = CONNECT_INDICATION_PORT,
                 discovery_seconds: float = 2.0, clock: Clock | None = None) -> None:
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
        vbox = QVBoxLayout(vitals)
        vf = QFormLayout()
        vbox.addLayout(vf)
        vf.addRow("Port or URL", self.vitals_url)
        vf.addRow("Protocol", self.vitals_protocol)
        vf.addRow("Baud", self.vitals_baud)
        self._build_finder(vf, vbox, discovery_port, discovery_seconds, clock)
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
        # The simulated patient on a real monitor's protocol, read by the real driver: the
        # lesson then looks and fails as at a bedside with that monitor.
        self.simulated_monitor = name_widget(QComboBox(), "picker.simulated_monitor", "Simulated monitor protocol")
        for label, choice in simulated_devices("vitals"):
            self.simulated_monitor.addItem(label, choice)
        self.simulated_pump = name_widget(QComboBox(), "picker.simulated_pump", "Simulated pump protocol")
        for label, choice in simulated_devices("pump"):
            self.simulated_pump.addItem(label, choice)
        self.simulate_button = name_widget(QPushButton("Start training simulation"),
                                           "picker.simulate", "Start training simulation")
        self.simulate_button.clicked.connect(self._simulate)
        tf.addRow("Scenario", self.scenario)
        tf.addRow("Seed", self.seed)
        tf.addRow("Monitor", self.simulated_monitor)
        tf.addRow("Pump", self.simulated_pump)
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
        # Shown unsized, a window gets at most 2/3 of the screen's height, then grows to its minimum
        # size, which leaves out how far its wrapped labels grow: size it for them at its width.
        box.activate()
        hint = self.sizeHint()
        self.resize(hint.width(), max(hint.height(), box.totalHeightForWidth(hint.width())))

    # -- finding IntelliVue monitors on the LAN ----------------------------------------------------
    def _build_finder(self, form: QFormLayout, below: QVBoxLayout, port: int, seconds: float,
                      clock: Clock | None) -> None:
        self.discovery_port, self.discovery_seconds, self._discovery_clock = port, seconds, clock
        self.find_button = name_widget(QPushButton("Find IntelliVue monitors"), "picker.find_monitors",
                                       "Find IntelliVue monitors on the network")
        self.find_button.setToolTip(f"Listen {seconds:g} s on UDP port {port} for monitors announcing "
                                    "themselves (connect indication)")
        self.find_button.clicked.connect(self.start_finding)
        self.monitors = name_widget(QListWidget(), "picker.monitors", "IntelliVue monitors found")
        self.monitors.setFixedHeight(96)  # two two-line entries without scrolling; more scroll
        self.monitors.itemClicked.connect(self._use_monitor)
        self.monitors.itemActivated.connect(self._use_monitor)
        self.monitors_status = name_widget(QLabel(""), "picker.monitors_status", "IntelliVue search result")
        self.monitors_status.setWordWrap(True)
        # Two lines reserved: a dialog's minimum height ignores how far a wrapped label grows, and
        # the "nothing found" message and a port's problem take two lines at the picker's width.
        self.monitors_status.setMinimumHeight(2 * self.monitors_status.fontMetrics().lineSpacing() + 2)
        form.addRow("On the network", self.find_button)
        below.addWidget(self.monitors)  # a box layout, not the form: it gives a wrapped status its height
        below.addWidget(self.monitors_status)
        self._finder: threading.Thread | None = None
        self._finder_stop = threading.Event()
        self._finder_news: queue.Queue[tuple[str, object]] = queue.Queue()
        self._finder_count = 0
        self._finder_poll = QTimer(self)
        self._finder_poll.setObjectName("picker.find_monitors.poll")
        self._finder_poll.setInterval(50)
        self._finder_poll.timeout.connect(self._take_finder_news)
        self.finished.connect(self.stop_finding)

    @property
    def finding(self) -> bool:
        return self._finder is not None

    def start_finding(self) -> None:
        """Listen for connect indications on a worker thread; a timer brings what it hears here."""
        if self._finder is not None:
            return
        self.monitors.clear()
        self._finder_count = 0
        self._finder_stop = threading.Event()
        news: queue.Queue[tuple[str, object]] = queue.Queue()
        self._finder_news = news
        stop, port, seconds, clock = self._finder_stop, self.discovery_port, self.discovery_seconds, \
            self._discovery_clock

        def listen() -> None:
            _found, problem = listen_for_monitors(
                port, seconds, clock=clock, stop=stop,
                on_listening=lambda bound: news.put(("listening", bound)),
                on_found=lambda monitor: news.put(("found", monitor)))
            news.put(("done", problem))

        self.find_button.setEnabled(False)
        self.monitors_status.setText(f"Opening UDP port {port}\u2026")
        self._finder = threading.Thread(target=listen, name="intellivue-discovery", daemon=True)
        self._finder.start()
        self._finder_poll.start()

    def stop_finding(self) -> None:
        """Stop listening (the dialog closing does this); waits for the worker to end."""
        self._finder_stop.set()
        if self._finder is not None:
            self._finder.join(timeout=2.0)
            self._take_finder_news()
        self._finder_poll.stop()

    def _take_finder_news(self) -> None:
        while True:
            try:
                kind, value = self._finder_news.get_nowait()
            except queue.Empty:
                return
            if kind == "listening":
                self.monitors_status.setText(f"Listening on UDP port {value} for {self.discovery_seconds:g} s\u2026")
            elif kind == "found" and isinstance(value, MonitorFound):
                item = QListWidgetItem(f"{value.ip}:{value.port}\n{value.details()}")  # two lines: no cut
                item.setData(Qt.ItemDataRole.AccessibleTextRole, value.describe())
                item.setData(Qt.ItemDataRole.UserRole, value)
                item.setToolTip(f"{value.url} \u2013 subnet mask {value.subnet_mask}")
                self.monitors.addItem(item)
                self._finder_count += 1
                self.monitors_status.setText(f"Heard {self._finder_count} monitor(s); still listening\u2026")
            elif kind == "done":
                self._finish_finding(value if isinstance(value, str) else None)

    def _finish_finding(self, problem: str | None) -> None:
        self._finder = None
        self._finder_poll.stop()
        self.find_button.setEnabled(True)
        if problem is not None:
            self.monitors_status.setText(problem)
        elif self._finder_count == 0:
            self.monitors_status.setText(nothing_found_text(self.discovery_port, self.discovery_seconds))
        else:
            self.monitors_status.setText(f"Found {self._finder_count} monitor(s): choose one to fill in the "
                                         "vitals connection.")

    def _use_monitor(self, item: QListWidgetItem) -> None:
        monitor = item.data(Qt.ItemDataRole.UserRole)
        if not isinstance(monitor, MonitorFound):
            return
        self.vitals_url.setEditText(monitor.url)
        at = self.vitals_protocol.findData(DRIVER_NAME)
        if at >= 0:
            self.vitals_protocol.setCurrentIndex(at)
        self.monitors_status.setText(f"Vitals monitor set to {monitor.url}.")

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
        vitals, _, link = (self.simulated_monitor.currentData() or "").partition("/")
        pump, _, pump_link = (self.simulated_pump.currentData() or "").partition("/")
        self.request = ConnectionRequest(simulate=name, seed=self.seed.value(), simulate_vitals=vitals or None,
                                         simulate_link=link or None, simulate_pump=pump or None,
                                         simulate_pump_link=pump_link or None)
        self.accept()
