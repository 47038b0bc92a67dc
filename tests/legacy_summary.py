"""What a session file reads back as, in numbers: the same summary from the console of the
day a file was written and from today's (tests/test_legacy_sessions.py compares them).

Works against both codebases (it uses only ``load_review``, ``export_session`` and the
Session's trends), so ``tests/fixtures/legacy-*.expected.json`` were written by running it
with the console of commit 1d70bde (see tests/fixtures/make_legacy_sessions.py).
"""

from __future__ import annotations

import csv
import json
import math
import sys
import tempfile
from pathlib import Path


def _csv_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def summary(path: Path) -> dict:
    from console.clinical import load_protocol
    from console.recording.export import export_session
    from console.recording.replay import load_review

    review = load_review(path, load_protocol())
    s = review.session
    trends = {}
    for metric, series in sorted(s.trends.items()):
        t, v = series.data()
        finite = [float(x) for x in v if not math.isnan(x)]
        trends[metric] = {"n": len(t), "finite": len(finite), "sum": round(sum(finite), 6),
                          "t_first": round(float(t[0]), 6) if len(t) else None,
                          "t_last": round(float(t[-1]), 6) if len(t) else None}
    words = {m: str(latest.value) for m, latest in sorted(s.latest.items()) if isinstance(latest.value, (str, list))}
    out: dict = {
        "trends": trends,
        "latest_words": words,
        "nibp": [[n.systolic, n.diastolic, n.mean, round(n.taken_at, 6)] for n in s.nibp_history],
        "devices": {d: [st.model, st.serial, st.firmware, st.accepted, st.signal_quality_low]
                    for d, st in sorted(s.devices.items())},
        "episodes": sorted([a.key, a.priority, round(a.started, 3)] for a in review.episodes),
        "events": len(review.events),
        "timeline": sorted([round(e.time, 3), e.kind, e.text] for e in s.events),
    }
    with tempfile.TemporaryDirectory() as tmp:
        export_session(path, Path(tmp) / "x")
        x = Path(tmp) / "x"
        files = {}
        for f in sorted(x.rglob("*.csv")):
            rows = _csv_rows(f)
            name = str(f.relative_to(x))
            if name.startswith("waveforms/"):
                value = next(k for k in (rows[0] if rows else {"value": 0}) if k.startswith("value"))
                files[name] = {"rows": len(rows), "column": value,
                               "sum": round(sum(float(r[value]) for r in rows), 3)}
            else:
                files[name] = {"rows": len(rows), "columns": list(rows[0]) if rows else []}
        out["export"] = files
    return out


if __name__ == "__main__":
    for name in sys.argv[1:]:
        p = Path(name)
        p.with_suffix(".expected.json").write_text(json.dumps(summary(p), indent=1, sort_keys=True) + "\n")
        print("wrote", p.with_suffix(".expected.json"))
