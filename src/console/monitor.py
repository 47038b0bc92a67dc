"""The monitoring loop, without Qt: one ``step(now)`` advances everything the console decides.

A ``Monitor`` owns a session's running pieces: the source of records (live devices, the
training simulator or a replayed file), the session (the one writer of what is known), the
workflow (phases, advisories), the alarm engine, and the sinks that take the data away
(the session record today; the hospital interface and the central station next). Each
``step``:

1. drains the source's queue into the session;
2. runs the step hooks (a replay applies the limits recorded at that moment);
3. lets the workflow update phases and advisories, then the alarm engine judge;
4. hands the step to the sinks and outputs (the record flushes on its interval, the nurse
   call follows the escalated alarms), each isolated: one that raises is reported as a
   technical alarm and never stops monitoring, the alarms or the others.

The window, the headless ``record`` command, replay and the benchmarks all drive a Monitor;
the window only renders it. ``start(period_s)`` steps it on a thread of its own, so a slow
or blocked paint never delays an alarm decision; whoever reads or changes the monitored
objects from another thread does it inside ``with monitor.lock:`` (the window's frame and
every action a person takes through the window do).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from console.alarms.engine import AlarmEngine
from console.alarms.model import Priority
from console.session import Session
from console.sinks import Sink, StepBatch
from console.sources import Source

log = logging.getLogger(__name__)

STEP_S = 0.05  # 20 Hz of wall time: well inside every alarm delay and the record's flush interval


@dataclass
class Output:
    """Something the monitor hands every step to (``tick(now)``) and closes at the end
    (``close(now) -> bool``: False when it could not finish its work, e.g. the record)."""

    name: str
    tick: Callable[[float], Any]
    close: Callable[[float], Any] | None = None
    priority: Priority = "medium"  # of the technical alarm when it fails
    failures: int = 0
    error: str | None = None


@dataclass
class StepTimes:
    """Wall time of recent steps (the benchmark reads them)."""

    seconds: list[float] = field(default_factory=list)

    def add(self, s: float) -> None:
        self.seconds.append(s)
        if len(self.seconds) > 2000:
            del self.seconds[:1000]


class Guarded:
    """A view of an object (the alarm engine, the workflow) whose method calls hold a lock:
    what the window hands its widgets and dialogs, so a nurse's action never runs while the
    loop's thread is in the middle of a step. Attribute reads and writes pass through."""

    __slots__ = ("_lock", "_target")

    def __init__(self, target: Any, lock: Any) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_lock", lock)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if callable(value) and not isinstance(value, type):
            lock = self._lock

            @functools.wraps(value)
            def call(*args: Any, **kwargs: Any) -> Any:
                with lock:
                    return value(*args, **kwargs)

            return call
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)

    def __eq__(self, other: object) -> bool:
        return self._target == (other._target if isinstance(other, Guarded) else other)

    def __hash__(self) -> int:
        return hash(self._target)

    def __repr__(self) -> str:
        return f"Guarded({self._target!r})"

    @property
    def target(self) -> Any:
        return self._target


class Monitor:
    def __init__(self, session: Session, engine: AlarmEngine, workflow: Any, source: Source | None = None,
                 *, mark_alarms: bool = True) -> None:
        self.session = session
        self.engine = engine
        self.workflow = workflow
        self.source = source
        self.lock = threading.RLock()
        self.hooks: list[Callable[[float], Any]] = []  # run before the workflow and alarms each step
        self.outputs: list[Output] = []
        self.sinks: list[Sink] = []
        self._records: list = []  # what the session ingested since the last step (for the sinks)
        self._entries: list = []  # alarm log entries since the last step
        self._sink_problems: dict[str, str | None] = {}
        session.listeners.append(self._records.append)
        engine.listeners.append(self._entries.append)
        self.steps = 0
        self.times = StepTimes()
        self.closed = False
        self._thread: threading.Thread | None = None
        self._last_step_wall = 0.0
        self._stop = threading.Event()
        if mark_alarms:
            engine.listeners.append(self._mark_alarm_on_timeline)

    # ---------------------------------------------------------------- wiring
    def add_output(self, name: str, tick: Callable[[float], Any], close: Callable[[float], Any] | None = None,
                   *, priority: Priority = "medium") -> Output:
        output = Output(name, tick, close, priority)
        self.outputs.append(output)
        return output

    def add_sink(self, sink: Sink) -> Sink:
        self.sinks.append(sink)
        return sink

    def _mark_alarm_on_timeline(self, entry) -> None:
        """Alarm starts go on the session timeline, so the trends mark them."""
        if entry.event == "start" and not entry.key.startswith("SELFTEST"):
            self.session.add_event(entry.time, "alarm", f"{entry.priority} alarm: {entry.message}",
                                   priority=entry.priority)

    # ---------------------------------------------------------------- the loop
    def step(self, now: float | None = None) -> float:
        """One pass of the loop. Returns the session time it judged."""
        started = time.perf_counter()
        with self.lock:
            session = self.session
            if self.source is not None:
                session.drain(self.source.queue)
            now = session.now() if now is None else now
            for hook in self.hooks:
                hook(now)
            self.workflow.update(now)  # phases and advisories first: the engine shows them this step
            self.engine.evaluate(session, now)
            for output in self.outputs:
                self._run(output, output.tick, now)
            self._publish(now)
            self.steps += 1
        self.times.add(time.perf_counter() - started)
        self._last_step_wall = time.monotonic()
        return now

    def _run(self, output: Output, call: Callable[[float], Any], now: float) -> Any:
        """Call an output so that its failure is a technical alarm, never a stopped loop."""
        try:
            result = call(now)
        except Exception as exc:  # any bug or I/O error in an output: say so, keep monitoring
            output.failures += 1
            first = output.error is None
            output.error = f"{type(exc).__name__}: {exc}"
            if first:
                log.exception("output %s failed", output.name)
            self.engine.set_condition(f"OUTPUT.{output.name}", True, kind="technical", priority=output.priority,
                                      metric="OUTPUT", message=f"{output.name} failed: {output.error}", now=now)
            return None
        if output.error is not None:
            output.error = None
            self.engine.set_condition(f"OUTPUT.{output.name}", False, now=now)
        return result

    def _publish(self, now: float) -> None:
        """Hand the step's data to every sink; show each sink's trouble as its technical alarm."""
        if not self.sinks:
            self._records.clear()
            self._entries.clear()
            return
        batch = StepBatch(now, tuple(self._records), tuple(self._entries))
        self._records.clear()
        self._entries.clear()
        wall = time.monotonic()
        for sink in self.sinks:
            try:
                sink.publish(batch)
                problem = sink.problem(wall)
            except Exception as exc:  # a sink's bug: its alarm says so, the loop goes on
                if self._sink_problems.get(sink.name) is None:
                    log.exception("sink %s failed", sink.name)
                problem = f"{sink.name} failed: {type(exc).__name__}: {exc}"
            if problem != self._sink_problems.get(sink.name):
                self._sink_problems[sink.name] = problem
                self.engine.set_condition(f"SINK.{sink.name}", problem is not None, kind="technical",
                                          priority=sink.priority, metric="SINK", message=problem or "",
                                          now=now)

    # ---------------------------------------------------------------- a thread of its own
    def start(self, period_s: float = STEP_S) -> None:
        """Step on a daemon thread whenever ``period_s`` of wall time passed without a step.
        The window steps the loop every frame (the lowest latency from wire to screen); when
        a paint blocks the display thread, this thread steps instead, so no alarm waits."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run_thread, args=(period_s,), name="monitor", daemon=True)
        self._thread.start()

    def _run_thread(self, period_s: float) -> None:
        while not self._stop.wait(period_s / 2):
            if time.monotonic() - self._last_step_wall < period_s:
                continue  # someone else (the window's frame) stepped it just now
            try:
                self.step()
            except Exception:  # the loop itself must not die: log, and step again
                log.exception("monitor step failed")

    def stop_thread(self, timeout: float = 2.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---------------------------------------------------------------- the end
    def close(self) -> bool:
        """End the session cleanly: judge what arrived, end every open alarm as "session
        closed" before the source stops (its "monitoring stopped" is not a lost link), stop
        the source, take what it still held, and close the outputs. False when an output
        could not finish (the record's last data went to a rescue file)."""
        self.stop_thread()
        if self.closed:
            return True
        self.closed = True
        with self.lock:
            session = self.session
            if self.source is not None:
                session.drain(self.source.queue)
            now = session.now()
            self.engine.evaluate(session, now)
            self.engine.close_session(now)
            if self.source is not None:
                self.source.stop()
                session.drain(self.source.queue)  # nothing already received is lost
            now = session.now()
            self._publish(now)  # the last records and alarm endings reach the sinks
            ok = True
            for output in self.outputs:
                if output.close is not None:
                    self._run(output, output.close, now)
            for sink in self.sinks:
                try:
                    ok = bool(sink.close(now)) and ok
                except Exception:
                    log.exception("closing sink %s", sink.name)
                    ok = False
            return ok
