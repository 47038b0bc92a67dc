"""Run by tests/test_core_is_qt_free.py in a fresh interpreter: with Qt made unimportable,
import the given modules and (with --record) run a whole headless ``record --simulate`` session.

    python tests/qtfree_session.py RESULT.json [--record OUT.sqlite] MODULE...

Writes RESULT.json: the Qt modules already loaded before the blocker, every attempt to import
Qt (blocked), the modules that failed to import and why, record's exit status, and the Qt
modules in sys.modules at the end. It judges nothing itself: the test does.
"""

import sys

BLOCKED = ("PySide6", "shiboken6", "pyqtgraph")


ATTEMPTS = []  # every import of a blocked module that was tried, in order


class NoQt:
    """A meta path finder, first on sys.meta_path: PySide6, shiboken6, pyqtgraph and all their
    submodules raise ImportError, as on a machine without them. Every attempt is noted."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            ATTEMPTS.append(name)
            raise ImportError(f"{name} is blocked: the headless core must not need Qt", name=name)
        return None  # not ours: the normal finders go on


def qt_in(modules) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in BLOCKED)


# Before anything else is imported: only builtins (sys) have been loaded by this script, and
# what the interpreter's start-up loaded is reported, not trusted.
PRELOADED = qt_in(sys.modules)
sys.meta_path.insert(0, NoQt)

import argparse  # noqa: E402 - after the blocker, on purpose
import importlib  # noqa: E402
import json  # noqa: E402
import traceback  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("result")
    p.add_argument("--record", metavar="OUT")
    p.add_argument("modules", nargs="*")
    args = p.parse_intermixed_args()
    failed: dict[str, str] = {}
    for name in args.modules:
        try:
            importlib.import_module(name)
        except BaseException as exc:  # a SystemExit at import is a failure too
            failed[name] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    record_exit = None
    if args.record:
        from console.cli import main as console_main

        try:
            record_exit = console_main(["record", "--simulate", "normal", "--speed", "60", "--duration", "120",
                                        "--out", args.record])
        except BaseException as exc:
            failed["record"] = traceback.format_exc()
            record_exit = exc.code if isinstance(exc, SystemExit) else None
    result = {"preloaded": PRELOADED, "attempts": ATTEMPTS, "failed": failed,
              "record_exit": record_exit, "qt_loaded": qt_in(sys.modules)}
    with open(args.result, "w", encoding="utf-8") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
