"""The damaged-file corpus through the real commands: `export` and `--review` (offscreen).

The corpus: the damages of tests/damaged_sessions.py (H5's, built from a real recording)
plus byte-level ones made here (truncated, emptied, random bytes, zeroed header, a text
file, a directory). A finding is a traceback, a hang, or an exit code other than the
documented ones (0 ok, 1 read as far as readable, 2 refused with a message).

    .venv/bin/python bench/faults/damaged.py            # every file, export and review
    .venv/bin/python bench/faults/damaged.py --quick    # every file by export, 3 by review
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1] / "tests"), str(HERE.parents[1] / "src")]
from _common import figures, run, traceback_in  # noqa: E402


def corpus(where: Path) -> dict[str, Path]:
    from damaged_sessions import damaged_corpus, good_session

    files = dict(damaged_corpus(where / "h5"))
    good = good_session(where / "good.sqlite", close=True)
    data = good.read_bytes()
    rng = random.Random(3)

    def put(name: str, content: bytes) -> None:
        files[name] = where / f"{name}.sqlite"
        files[name].write_bytes(content)

    put("truncated_half", data[: len(data) // 2])
    put("truncated_100", data[:100])
    put("empty", b"")
    put("random_bytes", rng.randbytes(len(data)))
    put("zeroed_header", b"\0" * 100 + data[100:])
    put("text_file", b"patient,HR\n1,70\n")
    flipped = bytearray(data)
    for _ in range(50):
        flipped[rng.randrange(100, len(data))] ^= 0xFF
    put("50_bytes_flipped", bytes(flipped))
    (where / "a_directory.sqlite").mkdir()
    files["a_directory"] = where / "a_directory.sqlite"
    return files


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    findings = []
    outcomes: Counter = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        files = corpus(Path(tmp))
        for i, (name, path) in enumerate(sorted(files.items())):
            runs = {"export": ["export", str(path), "--out", str(Path(tmp) / f"csv-{name}")]}
            if not args.quick or i < 3:
                runs["review"] = ["--review", str(path), "--quit-after", "1"]
            for command, argv_ in runs.items():
                r = run(argv_, timeout=90)
                outcomes[(command, r.returncode)] += 1
                if traceback_in(r.stderr) or r.returncode not in (0, 1, 2) or (
                        r.returncode == 2 and not r.stderr.strip()):
                    findings.append(f"{command} {name}: exit {r.returncode}: {r.stderr.strip()[-300:]}")
    figures("damaged session files through export and --review", {
        "files": len(files), "runs": sum(outcomes.values()),
        "outcomes (command, exit code): runs": {f"{c} {e}": n for (c, e), n in sorted(outcomes.items())},
        "findings (traceback, hang, undocumented exit, silent refusal)": len(findings)})
    for f in findings:
        print("  FINDING", f)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
