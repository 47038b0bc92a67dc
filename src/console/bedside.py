"""The bedside's running pieces, without Qt: what the window and the headless ``record``
command both start. ``Console`` owns the source, session, alarm engine, workflow, session
record and nurse call for one connection, wires them into one ``Monitor`` (console.monitor)
and stops them cleanly; the window renders that Monitor, ``record`` steps it in a loop.
"""

from __future__ import annotations

import datetime as dt
import getpass
import sys
from collections.abc import Callable
from typing import Any

from console import __version__
from console.alarms.engine import AlarmEngine
from console.clinical import ClinicalProtocol
from console.dose import DosePlan
from console.drivers import driver
from console.monitor import Monitor
from console.patient import Patient
from console.recording import Recorder, default_session_dir, new_session_path, resume
from console.session import Session
from console.sinks import RecorderSink
from console.sources import ConnectionRequest, Sources
from console.users import SiteUsers
from console.workflow import SessionWorkflow

RECORDING_ALARM = "RECORDING"
HL7_ALARM = "HL7"  # the interface the site configured cannot run (its queues' own alarm: SINK.HL7 interface)
# The central station the site configured cannot run (its link's own alarm: SINK.central station).
CENTRAL_ALARM = "CENTRAL"


def scenario_order(scenario, protocol: ClinicalProtocol):
    """A simulated scenario's patient and plan, as the order a clinic's system would send."""
    plan, patient = scenario_plan_and_patient(scenario)
    if plan is None or patient is None:
        return None
    from console.dose import check_guardrails
    from console.plan_file import SessionOrderError, parse_session_order

    # Scenario plans cross no guardrail (tested); a site's own narrower protocol may make one
    # cross a soft limit, and a training order then says why it goes ahead.
    soft = {f.field for f in check_guardrails(plan, protocol.dose_guardrails) if f.severity == "soft"}
    data = {"patient": patient.model_dump(mode="json"), "plan": plan.model_dump(mode="json"),
            "overrides": {f: "training scenario" for f in soft},
            "ordered_by": "training scenario"}
    try:
        return parse_session_order(data, source=f"scenario {scenario.name}", protocol=protocol)
    except SessionOrderError:
        return None


def scenario_plan_and_patient(scenario) -> tuple[DosePlan | None, Patient | None]:
    """A simulated scenario carries its own plan and (fictional) patient."""
    plan = patient = None
    p = getattr(scenario, "plan", None)
    if p is not None:
        plan = DosePlan(weight_kg=p.weight_kg, dose_mg_per_kg=p.dose_mg_per_kg,
                        duration_min=p.duration_min, bag_mg=p.bag_mg, bag_ml=p.bag_ml)
    who = getattr(scenario, "patient", None)
    if who is not None:
        dob = getattr(who, "date_of_birth", None)
        if isinstance(dob, str):
            dob = dt.date.fromisoformat(dob)
        patient = Patient(patient_id=str(getattr(who, "id", None) or getattr(who, "patient_id", "SIM")),
                          name=str(getattr(who, "name", "Training patient")), date_of_birth=dob)
    return plan, patient


def operator_name() -> str:
    """Until sign-in exists (the session-workflow issue), the operating system's user."""
    try:
        return getpass.getuser()
    except Exception:  # no user database entry (containers): still say something true
        return "unknown operator"


def rescue_message(prog: str, recorder) -> str:
    """What happened to the data the record could not take at quit, in one line."""
    text = f"{prog}: the last data could not be written to {recorder.path} (it stays open, --resume)"
    if recorder.rescued_to is not None:
        return f"{text}; everything is saved in the rescue file {recorder.rescued_to} (review or export it)"
    if recorder.rescue_error:
        return f"{text}; {recorder.rescue_error}: DATA WAITING IN MEMORY IS LOST"
    return text


class Console:
    """Owns the running pieces (sources, session, alarm engine, workflow, session record) of
    one connection and the Monitor that advances them, so they can be swapped (device picker)
    and stopped cleanly. Every connection is recorded: to ``record_path`` if given, into
    ``resume_path`` if resuming, otherwise to a new file in the user's data directory.

    ``record_meta`` adds to the record's meta (the headless command's settings);
    ``on_recording_failure`` / ``on_recording_recovered`` / ``on_flushed`` are told as well as
    the RECORDING alarm (the headless command prints them)."""

    def __init__(self, protocol: ClinicalProtocol, record_path: str | None = None, *,
                 resume_path: str | None = None, session_dir: str | None = None,
                 record: bool = True, order=None, users=None, user: str | None = None,
                 record_meta: dict | None = None, site=None,
                 on_recording_failure: Callable[[str], Any] | None = None,
                 on_recording_recovered: Callable[[], Any] | None = None,
                 on_flushed: Callable[[Any], Any] | None = None) -> None:
        self.protocol = protocol
        self.record_path = record_path
        self.resume_path = resume_path
        self.session_dir = session_dir
        self.record = record
        self.order = order  # a SessionOrder from --session FILE.json, loaded at connect
        # The site's users (console.users): sign-in and sign-off are checked against them.
        self.users = users if users is not None else SiteUsers()
        self.site = site  # console.site.SiteConfig: the HL7 interface and the chair's name, when set
        # Why the site's HL7 interface is not running for this session, in words (devices tab).
        self.hl7_note: str | None = None
        self.central_note: str | None = None  # why the site's central station is not served (devices tab)
        self.record_meta = dict(record_meta or {})
        self.on_recording_failure = on_recording_failure
        self.on_recording_recovered = on_recording_recovered
        self.on_flushed = on_flushed
        self.sources: Sources | None = None
        self.recorder: Recorder | None = None
        self.nurse_call: Any = None  # console.nurse_call.NurseCallOutput, when the site has one
        self.user = user or operator_name()
        self.unwritten = False
        self.session = self._new_session(None)
        self.engine = AlarmEngine(protocol, user=self.user)
        self.workflow = SessionWorkflow(protocol, self.session, self.engine, authenticate=self.users)
        self.monitor = self._new_monitor()

    def _new_session(self, sources: Sources | None) -> Session:
        from console.clock import SystemClock

        if sources is None:
            return Session(self.protocol, SystemClock())
        plan = patient = None
        if sources.simulation is not None:
            plan, patient = scenario_plan_and_patient(sources.scenario)
        session = Session(self.protocol, sources.clock, plan=plan, patient=patient,
                          simulated=sources.request.simulated, scenario=sources.request.simulate)
        names = ["vitals", "pump", *(name for name, _role, _spec in sources.request.devices())]
        for device in dict.fromkeys(names):
            session.set_device_url(device, sources.url(device))
        for device, _role, spec in sources.request.devices():
            reports = driver(spec.driver).report_interval
            if reports is not None:  # a gateway's batches: stale and link-lost times follow them
                session.set_report_interval(device, reports(spec.url))
        return session

    def _tell_devices_the_patient(self, patient_id: str | None) -> None:
        """Each device whose data names a patient (HL7's PID) is told the session's patient, and
        then refuses another one's data; None at the end of the session."""
        if self.sources is None or self.sources.request.simulated:
            return
        for _device, _role, spec in self.sources.request.devices():
            hook = driver(spec.driver).patient_hook
            if hook is not None:
                hook(spec.url, patient_id)

    def _patient_for_devices(self) -> Callable[[float], None]:
        told: list[str | None] = [None]

        def tick(_now: float) -> None:
            # The session's patient as soon as it is known (entered or from the order), confirmed
            # or not: a gateway's message for someone else is refused from the start.
            patient = self.workflow.patient
            patient_id = patient.patient_id if patient is not None else None
            if patient_id != told[0]:
                told[0] = patient_id
                self._tell_devices_the_patient(patient_id)

        return tick

    def _new_monitor(self) -> Monitor:
        monitor = Monitor(self.session, self.engine, self.workflow, self.sources)
        # The nurse call follows the escalated alarms (looked up each step: a site may set it later).
        monitor.add_output("nurse call", lambda now: self.nurse_call is not None and self.nurse_call.update(
            self.engine, now), lambda now: self.nurse_call is not None and self.nurse_call.close(now))
        monitor.add_output("patient for the devices", self._patient_for_devices(),
                           lambda now: self._tell_devices_the_patient(None), priority="high")
        return monitor

    def connect(self, request: ConnectionRequest) -> Session:
        self.stop()
        self.sources = Sources(request)
        self.session = self._new_session(self.sources)
        self.engine = AlarmEngine(self.protocol, user=self.user)
        self.workflow = SessionWorkflow(self.protocol, self.session, self.engine, self.sources.clock,
                                        authenticate=self.users)
        self.monitor = self._new_monitor()
        if self.record:
            self._start_recording()
        self._start_hl7()
        self._start_central()
        if request.simulated:
            # Training runs unattended too (--quit-after): the scenario is its own order, and
            # the trainee is signed in as the operating system's user, marked as training.
            # With site users the trainee signs in as one of them (no operating-system name).
            if not self.users.configured:
                self.workflow.sign_in(f"{self.user} (training)")
            order = scenario_order(self.sources.scenario, self.protocol)
            if order is not None:
                self.workflow.load_order(order)
        if self.order is not None:
            self.workflow.load_order(self.order)
            self.order = None
        self.sources.start()
        if request.simulated:  # an emulated device's address exists once it serves
            for device in ("vitals", "pump"):
                with self.monitor.lock:
                    self.session.set_device_url(device, self.sources.url(device))
        return self.session

    def sign_in(self, name: str, pin: str | None = None) -> None:
        """The nurse signs in: every later action, alarm acknowledgements included, carries the name."""
        with self.monitor.lock:
            self.workflow.sign_in(name, pin)
            self.engine.user = name

    def _start_recording(self) -> None:
        assert self.sources is not None  # start() makes the sources before the record
        clock, engine = self.sources.clock, self.engine

        def failed(message: str) -> None:
            # The record is part of the clinical duty: failing to write it is a high alarm,
            # while monitoring goes on and the data waits in memory.
            engine.set_condition(RECORDING_ALARM, True, priority="high", metric="RECORDING",
                                 message=f"Recording cannot be written: {message}", now=clock.now())
            if self.on_recording_failure is not None:
                self.on_recording_failure(message)

        def recovered() -> None:
            engine.set_condition(RECORDING_ALARM, False)
            if self.on_recording_recovered is not None:
                self.on_recording_recovered()

        callbacks: dict[str, Any] = dict(on_failure=failed, on_recovered=recovered, on_flushed=self.on_flushed)
        meta = {"console_version": __version__, "protocol_fingerprint": self.protocol.fingerprint(),
                "simulated": self.session.simulated, "scenario": self.session.scenario,
                "user": self.user, "site_name": getattr(self.site, "site_name", "") or None,
                "chair": getattr(self.site, "chair", "") or None, **self.record_meta}
        if self.resume_path:
            self.recorder = resume(self.resume_path, clock, **callbacks)
            self.resume_path = None  # a later connection starts a new record
        else:
            path = self.record_path or new_session_path(self.session_dir or default_session_dir(), clock.wall())
            self.record_path = None
            self.recorder = Recorder(path, clock, meta=meta, **callbacks)
        self.recorder.attach(self.session, engine, listen=False)  # the monitor hands it each step's data
        self.recorder.attach_workflow(self.workflow)
        self.monitor.add_sink(RecorderSink(self.recorder))

    def _start_hl7(self) -> None:
        """The hospital interface, when the site has one: its outbox is the session file, so the
        record must exist. A live session whose interface cannot run is a technical alarm; a
        training session pointed at a real engine sends nothing, and the devices tab says why."""
        config = getattr(self.site, "hl7", None)
        self.hl7_note = None
        if config is None:
            return
        from console.hl7.interface import InterfaceRefused, open_interface
        from console.hl7.messages import Location

        workflow, session = self.workflow, self.session
        problem = None
        if self.recorder is None or self.recorder.error:
            problem = "no session record to keep its messages in (store and forward needs the session file)"
        else:
            try:
                sink = open_interface(config, session, self.engine, self.recorder.path,
                                      location=Location(self.site.chair, point_of_care=config.point_of_care),
                                      confirmed=lambda: workflow.patient is not None and workflow.patient_confirmed,
                                      workflow=workflow)
            except (InterfaceRefused, OSError, ValueError) as exc:
                problem = str(exc)
            else:
                self.monitor.add_sink(sink)
                return
        self.hl7_note = f"HL7 interface not running: {problem}"
        if self.recorder is not None:  # the record says why the chart got nothing from this session
            self.recorder.add_event(session.now(), "note", self.hl7_note, user=None)
        if not session.simulated:
            self.engine.set_condition(HL7_ALARM, True, kind="technical", priority="medium", metric="HL7",
                                      message=self.hl7_note, now=session.now())

    def _start_central(self) -> None:
        """The central station's publisher, when the site has a broker (docs/central.md); a
        training session publishes too, marked simulated. One that cannot start is a low
        technical alarm (the central is a second screen: this console stays the alarm source)."""
        config = getattr(self.site, "central", None)
        self.central_note = None
        if config is None:
            return
        from console.central.publisher import CentralRefused, open_publisher

        assert self.sources is not None
        try:
            self.monitor.add_sink(open_publisher(self.site, self.session, self.engine, self.workflow,
                                                 self.sources.clock))
            return
        except (CentralRefused, ValueError) as exc:
            self.central_note = f"central station not served: {exc}"
        session = self.session
        if self.recorder is not None:
            self.recorder.add_event(session.now(), "note", self.central_note, user=None)
        self.engine.set_condition(CENTRAL_ALARM, True, kind="technical", priority="low", metric="CENTRAL",
                                  message=self.central_note, now=session.now())

    def tick(self) -> None:
        """One step of the monitor (tests and tools that drive it by hand)."""
        self.monitor.step()

    def stop(self) -> None:
        """Judge what arrived, end every open alarm ("session closed"), stop the sources,
        close the record (docs/recording.md: exit 1 when its last data went elsewhere)."""
        self.monitor.close()
        record = next((s for s in self.monitor.sinks if isinstance(s, RecorderSink)), None)
        if record is not None and record.closed_cleanly is False:
            self.unwritten = True  # the run exits 1 (docs/recording.md, exit codes)
            print(rescue_message("infusion-console", record.recorder), file=sys.stderr)
        self.recorder = None
