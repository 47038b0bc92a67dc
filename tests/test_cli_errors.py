"""Every command-line entry point over a corpus of damaged files and bad values (issue 10):
the documented exit code (2 refused input, 1 partial), one readable message, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from console.recording import store
from damaged_sessions import DAMAGES, damaged_corpus, good_session

ENV = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "console", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out + err


def readable(text: str, *words: str) -> None:
    assert "Traceback" not in text and "Error:" not in text.replace("error:", ""), text
    for w in words:
        assert w in text, text


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return damaged_corpus(tmp_path_factory.mktemp("corpus"))


def test_damaged_files_are_never_resumed_into(corpus, tmp_path):
    before = {name: path.read_bytes() for name, path in corpus.items()}
    procs = {name: start("--simulate", "normal", "--resume", str(path), "--quit-after", "1")
             for name, path in corpus.items()}
    for name, proc in procs.items():
        code, text = finish(proc)
        assert code == 2, (name, text)
        readable(text, "cannot resume", "damaged", "never resumed into")
        assert corpus[name].read_bytes() == before[name], name  # not touched


def test_export_of_damaged_files_is_partial_exit_1_listing_what_was_skipped(corpus, tmp_path):
    skipped = {"overwritten_pages": "malformed", "dropped_samples": "samples.csv: not exported",
               "anchor_abc": "anchor_wall is not a time", "blob_3_bytes": "waveforms/PLETH.csv: 1 damaged",
               "rate_0": "waveforms/PLETH.csv: 1 damaged"}
    assert set(skipped) == set(DAMAGES)
    procs = {name: start("export", str(path), "--out", str(tmp_path / name)) for name, path in corpus.items()}
    for name, proc in procs.items():
        code, text = finish(proc)
        assert code == 1, (name, text)
        readable(text, "PARTIAL export", skipped[name])
        assert (tmp_path / name / "events.csv").exists()


def test_review_of_damaged_files_shows_what_is_readable_exit_1(corpus, tmp_path):
    procs = {name: start("--review", str(path), "--quit-after", "0.3") for name, path in corpus.items()}
    for name, proc in procs.items():
        code, text = finish(proc)
        assert code == 1, (name, text)
        assert "Traceback" not in text, (name, text)


def test_review_of_damaged_file_names_the_damage(corpus, qtbot):
    from console.recording.replay import load_review
    from console.ui.review import ReviewWindow

    review = load_review(corpus["rate_0"])
    assert review.damage == ["waveforms: 1 damaged chunks skipped"]
    window = ReviewWindow(review, lambda *_: None)
    qtbot.addWidget(window)
    assert "DAMAGED FILE" in window.state.text()
    waves = review.waveforms(0.0, 20.0)  # the damaged chunk is skipped, its place a gap
    values = waves["PLETH"][1]
    assert len(values) > 1000 and int(np.isnan(values).sum()) == 1  # one break where chunk 5 was


def test_resume_of_a_file_another_console_records_exits_2(tmp_path):
    path = good_session(tmp_path / "live.sqlite")
    lock = store.hold_lock(path)  # a running recorder holds it
    try:
        code, text = finish(start("--simulate", "normal", "--resume", str(path), "--quit-after", "1"))
    finally:
        store.release_lock(lock, path)
    assert code == 2, text
    readable(text, "being recorded by another running console")


def test_record_into_a_dangling_symlink_exits_2(tmp_path):
    link = tmp_path / "link.sqlite"
    link.symlink_to(tmp_path / "nowhere.sqlite")
    for args in (("--simulate", "normal", "--record", str(link), "--quit-after", "1"),
                 ("record", "--simulate", "normal", "--out", str(link), "--duration", "1")):
        code, text = finish(start(*args))
        assert code == 2, text
        readable(text, "already exists")
    assert not (tmp_path / "nowhere.sqlite").exists()


@pytest.mark.parametrize(("args", "words"), [
    (("--simulate", "normal", "--seed", "-5"), "seed must be between"),
    (("record", "--simulate", "normal", "--seed", "-5"), "seed must be between"),
    (("--vitals", "socket://127.0.0.1"), "needs host and port"),
    (("record", "--vitals", "socket://127.0.0.1"), "needs host and port"),
    (("--pump", "socket://127.0.0.1:notaport"), "port must be a number"),
    (("--simulate", "normal", "--quit-after", "nan"), "finite number"),
    (("--simulate", "normal", "--quit-after", "inf"), "finite number"),
    (("record", "--simulate", "normal", "--duration", "nan"), "finite number"),
    (("record", "--simulate", "normal", "--duration", "inf"), "finite number"),
])
def test_bad_values_exit_2_with_one_readable_line(args, words):
    from console.cli import main

    proc = subprocess.run([sys.executable, "-c", "import sys; from console.cli import main; "
                           "sys.exit(main(sys.argv[1:]))", *args], capture_output=True, text=True,
                          env=ENV, timeout=60)
    assert proc.returncode == 2, proc.stderr
    readable(proc.stderr, words)
    assert main is not None


def test_help_lists_every_subcommand_and_the_exit_codes():
    from console.cli import HEADLESS_COMMANDS

    proc = subprocess.run([sys.executable, "-m", "console", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for name in ("decode", "record", "export", *HEADLESS_COMMANDS):
        assert f"\n  {name} " in proc.stdout or f"\n  {name}:" in proc.stdout, name
    assert "exit status: 0 ok; 1 partial" in " ".join(proc.stdout.split())
