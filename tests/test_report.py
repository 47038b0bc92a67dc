"""The PDF chart of a session, through the command (console.report_cmd.main) on real recorded
session files, read back with poppler: ``pdftotext`` holds every section and value (patient,
doses, every vitals row with each cuff reading, each alarm, the override's reason, the
sign-off), ``pdfinfo`` the paper and page count, and ``pdftoppm`` draws the pages, saved in
test-artifacts/report/ for a person to look at (and checked for the SIMULATION watermark).

poppler-utils is installed by scripts/setup.sh; under CI a missing tool fails, never skips."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from console import report_cmd
from console.recording.replay import load_review
from console.report import build_report
from console.vitals_table import row_cells, vitals_rows
from damaged_sessions import damaged_corpus
from report_bed import CLINICIAN, NOTE, NURSE, OVERRIDE_REASON, crashed_and_resumed, shared, whole_session


def poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} not found: install poppler-utils (scripts/setup.sh does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def text_of(pdf: Path) -> str:
    """The PDF's text in drawing order, whitespace folded (a wrapped cell reads as one line; a
    line broken after a hyphen, "pre-" / "session", reads "pre-session")."""
    out = subprocess.run([poppler("pdftotext"), "-raw", str(pdf), "-"], capture_output=True, text=True, check=True)
    return " ".join(out.stdout.replace("-\n", "-").split())


def info(pdf: Path) -> dict[str, str]:
    out = subprocess.run([poppler("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


def pages_png(pdf: Path, into: Path, dpi: int = 60) -> list[Path]:
    into.mkdir(parents=True, exist_ok=True)
    for old in into.glob("page-*.png"):
        old.unlink()
    subprocess.run([poppler("pdftoppm"), "-png", "-r", str(dpi), str(pdf), str(into / "page")], check=True)
    return sorted(into.glob("page-*.png"))


def reddish_pixels(png: Path) -> int:
    """Pixels of the watermark's colour: a pale red (about 245, 217, 217 on white). The plots'
    red lines are dark (192, 57, 43), so they do not count."""
    from PySide6.QtGui import QImage

    img = QImage(str(png))
    assert not img.isNull(), png
    count = 0
    for y in range(0, img.height(), 2):
        for x in range(0, img.width(), 2):
            c = img.pixelColor(x, y)
            if c.red() > 230 and c.red() - c.green() > 18 and c.red() - c.blue() > 18:
                count += 1
    return count


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    return shared(tmp_path_factory, "whole", whole_session)


@pytest.fixture(scope="module")
def whole_pdf(whole, tmp_path_factory):
    out = tmp_path_factory.mktemp("pdf") / "chart.pdf"
    assert report_cmd.main([str(whole), "--out", str(out)]) == 0
    return out


def joined(cells) -> str:
    """A table row as pdftotext -raw gives it: the cells in order, empty ones leave nothing."""
    return " ".join(" ".join(c.split()) for c in cells if c)


def test_the_chart_of_a_whole_session_holds_every_section_and_value(whole, whole_pdf, artifacts_dir):
    assert stat.S_IMODE(os.stat(whole_pdf).st_mode) == 0o600
    meta = info(whole_pdf)
    assert meta["Page size"].startswith("595") and "A4" in meta["Page size"]
    pages = int(meta["Pages"])
    text = text_of(whole_pdf)
    review = load_review(whole)
    report = build_report(review)

    assert "TRAINING SIMULATION: Ketamine infusion session chart" in text
    assert "Alex Morgan (ID SIM-0001, born 1986-04-12)" in text
    assert "infusion-console 0.1.0" in text
    for section in report.sections:
        assert section.title in text
    assert "Trends" in text and "What this record does not hold" in text
    for missing in report.missing:
        assert missing in text
    # the plan, its override and the dose
    assert "0.5 mg/kg = 35 mg" in text and "100 mg in 50 mL (2 mg/mL)" in text
    assert OVERRIDE_REASON in text
    assert "Delivered 35.0 mg = 0.50 mg/kg (17.5 mL x 2 mg/mL)" in text
    assert "Planned 35 mg = 0.5 mg/kg" in text
    # every vitals row (each cuff reading among them), its events on the line under it
    rows = vitals_rows(review.session, review.end)
    assert len([r for r in rows if r.cuff]) == len(review.session.nibp_history) >= 9
    for row in rows:
        cells = row_cells(row)
        assert joined(cells[:-1]) in text, cells
        if cells[-1]:
            assert joined([f"Events: {cells[-1]}"]) in text
    # charting, each alarm with its priority, duration and acknowledgement, the sign-off
    assert NOTE in text and "[marker] patient anxious" in text
    assert "GAD-7 13 moderate anxiety baseline Nurse Kim" in text
    for row in report.section("alarms").tables[0].rows:
        assert joined(row) in text, row
    assert f"{NURSE} at " in text and "(after 00:20)" in text
    assert f"Signed off by {CLINICIAN}" in text
    for row in report.section("discharge").tables[0].rows:
        assert joined(row) in text, row
    assert f"{CLINICIAN} clinician, not verified ordered, set the plan, signed the discharge off" in text
    for n in range(1, pages + 1):
        assert f"Page {n} of {pages}" in text
    # the pages, for people to look at; every one carries the watermark
    pngs = pages_png(whole_pdf, artifacts_dir / "report" / "whole-a4")
    assert len(pngs) == pages
    assert all(reddish_pixels(p) > 500 for p in pngs)


def test_letter_paper(whole, tmp_path):
    out = tmp_path / "letter.pdf"
    assert report_cmd.main([str(whole), "--out", str(out), "--paper", "letter"]) == 0
    assert info(out)["Page size"].startswith("612 x 792")
    assert "Page 1 of" in text_of(out)


def test_a_clinical_session_has_no_watermark(whole, tmp_path):
    clinical = tmp_path / "clinical.sqlite"
    shutil.copyfile(whole, clinical)
    with sqlite3.connect(clinical) as db:
        db.execute("UPDATE meta SET value = 'false' WHERE key = 'simulated'")
    db.close()
    out = tmp_path / "clinical.pdf"
    assert report_cmd.main([str(clinical), "--out", str(out)]) == 0
    text = text_of(out)
    assert "SIMULATION" not in text and text.startswith("Ketamine infusion session chart")
    assert "Session kind clinical session" in text
    assert reddish_pixels(pages_png(out, tmp_path / "png")[0]) < 50


def test_a_crashed_and_resumed_session_makes_an_honest_chart(tmp_path_factory, tmp_path, artifacts_dir):
    session = shared(tmp_path_factory, "resumed", crashed_and_resumed)
    out = tmp_path / "resumed.pdf"
    assert report_cmd.main([str(session), "--out", str(out), "--paper", "letter"]) == 0
    text = text_of(out)
    assert "Recording resumed (run 2): console stopped unexpectedly." in text
    assert "console stopped unexpectedly" in text and "Not recorded from" in text
    assert "No discharge: the clinician's sign-off is not in the record." in text
    assert "Not signed off: the record holds no discharge sign-off" in text
    assert "Infusion ended, recovery began not recorded" in text
    pages_png(out, artifacts_dir / "report" / "resumed-letter")


def test_an_existing_file_or_a_link_is_never_written_over(whole, tmp_path, capsys):
    out = tmp_path / "chart.pdf"
    out.write_bytes(b"an older chart")
    out.chmod(0o644)
    assert report_cmd.main([str(whole), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and err.count("\n") == 1
    assert out.read_bytes() == b"an older chart"
    target = tmp_path / "elsewhere.pdf"
    target.write_bytes(b"not mine")
    link = tmp_path / "link.pdf"
    link.symlink_to(target)
    for extra in ([], ["--force"]):
        assert report_cmd.main([str(whole), "--out", str(link), *extra]) == 2
        err = capsys.readouterr().err
        assert "symbolic link" in err and err.count("\n") == 1
    assert target.read_bytes() == b"not mine"
    assert report_cmd.main([str(whole), "--out", str(out), "--force"]) == 0
    assert out.read_bytes().startswith(b"%PDF") and stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_unreadable_and_damaged_files_say_so_in_one_line(tmp_path, capsys):
    cases = {"missing": tmp_path / "nothere.sqlite", "text": tmp_path / "notes.sqlite"}
    cases["text"].write_text("not a database")
    for name, path in cases.items():
        assert report_cmd.main([str(path), "--out", str(tmp_path / f"{name}.pdf")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("report: ") and err.count("\n") == 1 and "Traceback" not in err, err
        assert not (tmp_path / f"{name}.pdf").exists()
    damaged = damaged_corpus(tmp_path / "corpus")["overwritten_pages"]
    out = tmp_path / "damaged.pdf"
    assert report_cmd.main([str(damaged), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "is damaged" in err and err.count("\n") == 1 and "Traceback" not in err
    assert "Damaged file:" in text_of(out)  # the chart itself says what could not be read
    assert report_cmd.main(["--paper", "a3", str(damaged), "--out", str(out)]) == 2  # argparse: exit 2


def test_the_command_draws_with_no_display_at_all(whole, tmp_path):
    # A fresh interpreter with no display and no Qt platform named: the report sets offscreen
    # itself (it opens no window) and writes the chart.
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    out = tmp_path / "headless.pdf"
    done = subprocess.run([sys.executable, "-c", "import sys; from console.report_cmd import main; "
                           "sys.exit(main(sys.argv[1:]))", str(whole), "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(f"report: wrote {out} (") and done.stderr.count("\n") == 1
    assert "Page 1 of" in text_of(out)
