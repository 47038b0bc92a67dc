"""Patient data on disk (issue 10): every writer creates its files 0600 and its directories
0700 under umask 000, never writes through a symbolic link, never over a file unless asked."""

from __future__ import annotations

import os
import queue
import stat

import pytest

from console.private_files import PrivateFileError, open_private, private_dir, write_private
from damaged_sessions import good_session


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture(autouse=True)
def umask_000():
    old = os.umask(0)
    yield
    os.umask(old)


def test_helper_creates_0600_in_0700_and_refuses_links_and_existing_files(tmp_path):
    d = private_dir(tmp_path / "a" / "b")
    assert mode(tmp_path / "a") == mode(d) == 0o700
    write_private(d / "x", b"1")
    assert mode(d / "x") == 0o600
    with pytest.raises(FileExistsError):
        write_private(d / "x", b"2")
    (d / "x").chmod(0o644)
    write_private(d / "x", b"2", force=True)
    assert (d / "x").read_bytes() == b"2" and mode(d / "x") == 0o600
    target = tmp_path / "target"
    target.write_bytes(b"keep")
    (d / "link").symlink_to(target)
    for force in (False, True):
        with pytest.raises(OSError):
            write_private(d / "link", b"evil", force=force)
    with pytest.raises(OSError):
        open_private(d / "link", "ab")
    assert target.read_bytes() == b"keep"
    (tmp_path / "dirlink").symlink_to(d)
    with pytest.raises(PrivateFileError):
        private_dir(tmp_path / "dirlink")


def test_session_file_lock_and_directory(tmp_path):
    from console.recording import store

    path = good_session(tmp_path / "sessions" / "s.sqlite")
    assert mode(tmp_path / "sessions") == 0o700
    assert mode(path) == 0o600
    for suffix in ("-wal", "-shm"):
        if os.path.exists(f"{path}{suffix}"):
            assert mode(f"{path}{suffix}") == 0o600
    lock = store.hold_lock(path)
    assert mode(store.lock_path(path)) == 0o600
    store.release_lock(lock, path)
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o777)
    store.create(loose / "t.sqlite").close()
    assert mode(loose) == 0o700  # the directory that protects -wal/-shm is checked and tightened


def test_export_files_and_folder_never_over_files_nor_through_links(tmp_path, capsys):
    from console.export_cmd import main as export_main

    path = good_session(tmp_path / "s.sqlite", close=True)
    out = tmp_path / "out"
    assert export_main([str(path), "--out", str(out)]) == 0
    assert mode(out) == mode(out / "waveforms") == 0o700
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files and all(mode(p) == 0o600 for p in files)
    before = (out / "samples.csv").read_bytes()
    assert export_main([str(path), "--out", str(out)]) == 2  # an earlier export is never overwritten
    assert "never written over files" in capsys.readouterr().err
    assert (out / "samples.csv").read_bytes() == before
    (out / "samples.csv").chmod(0o644)
    assert export_main([str(path), "--out", str(out), "--force"]) == 0
    assert mode(out / "samples.csv") == 0o600
    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text("keep")
    (out / "alarms.csv").unlink()
    (out / "alarms.csv").symlink_to(elsewhere)
    assert export_main([str(path), "--out", str(out), "--force"]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert elsewhere.read_text() == "keep"


def test_raw_capture_is_0600_and_never_appended_through_a_link(tmp_path):
    from console.transport import SimulatedDevices, _Capture

    errors: list[str] = []
    sim = SimulatedDevices(queue.SimpleQueue(), "normal", capture_dir=tmp_path / "cap")
    sim.start()
    sim.stop()
    cap = _Capture(tmp_path / "cap" / "vitals.icl", errors.append)
    cap.write(b"$VS,1\r\n")
    cap.close()
    assert mode(tmp_path / "cap") == 0o700 and mode(tmp_path / "cap" / "vitals.icl") == 0o600
    assert not errors
    victim = tmp_path / "victim"
    victim.write_bytes(b"")
    (tmp_path / "cap" / "other.icl").symlink_to(victim)
    cap = _Capture(tmp_path / "cap" / "other.icl", errors.append)
    cap.write(b"$PS,1\r\n")
    cap.close()
    assert victim.read_bytes() == b"" and errors and "symbolic link" in errors[0]


def test_screenshot_is_0600_never_through_a_link_nor_over_a_file_nor_into_a_new_folder(tmp_path, qtbot, capsys):
    from PySide6.QtWidgets import QLabel

    from console.app import save_screenshot

    label = QLabel("Test Patient (ID P1, born 1970-01-01)")
    qtbot.addWidget(label)
    shot = tmp_path / "shot.png"
    assert save_screenshot(label, shot)
    assert mode(shot) == 0o600 and shot.read_bytes()[:4] == b"\x89PNG"
    assert not save_screenshot(label, shot)  # exists: refused
    assert "never overwritten" in capsys.readouterr().err
    assert save_screenshot(label, shot, force=True)
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"keep")
    (tmp_path / "link.png").symlink_to(victim)
    assert not save_screenshot(label, tmp_path / "link.png", force=True)
    assert victim.read_bytes() == b"keep"
    assert not save_screenshot(label, tmp_path / "new" / "deep" / "x.png")
    assert not (tmp_path / "new").exists()
