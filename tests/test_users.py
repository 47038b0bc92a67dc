"""Users and roles (issue 11): PIN hashing, sign-in against the site's users, the record of
whether a sign-in was verified, clinician-only discharge sign-off with a reason of substance,
and the ``infusion-console hash-pin`` command (run for real)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from console.site import SiteConfig, User
from console.users import SiteUsers, check_hash, hash_pin, verify_pin
from console.workflow import Phase, SignInRefused, WorkflowError
from workflow_bed import Bed

# Hashed once per test session (scrypt is deliberately slow).
HASHES = {pin: hash_pin(pin) for pin in ("2468", "1357", "9999")}


def site(required=False):
    return SiteConfig(users=(User(name="Nurse Kim", role="nurse", pin_hash=HASHES["2468"]),
                             User(name="Dr Osei", role="clinician", pin_hash=HASHES["1357"]),
                             User(name="Sam Tech", role="biomedical engineer", pin_hash=HASHES["9999"])),
                      require_users=required)


def bed_with(users, *, simulated=False):
    b = Bed(sign_in=False)
    b.wf.authenticate = users
    b.session.simulated = simulated
    return b


# ---------------------------------------------------------------- hashing
def test_a_pin_hash_verifies_only_its_pin_and_is_salted():
    h = HASHES["2468"]
    assert h.startswith("scrypt$16384$8$1$") and "2468" not in h
    assert verify_pin("2468", h) and not verify_pin("2469", h) and not verify_pin("", h)
    assert hash_pin("2468") != h  # a new salt each time
    assert check_hash(h) is None


@pytest.mark.parametrize("bad", ["2468", "scrypt$x$8$1$AA==$AA==", "md5$1$2$3$4$5", "scrypt$1024$8$1$AA==$AA=="])
def test_a_damaged_or_weak_hash_never_verifies_or_raises(bad):
    assert verify_pin("2468", bad) is False or bad.startswith("scrypt$1024")
    assert check_hash(bad)


# ---------------------------------------------------------------- sign-in
def test_with_site_users_a_listed_name_needs_its_pin():
    b = bed_with(SiteUsers.from_site(site()))
    with pytest.raises(SignInRefused, match="PIN for Nurse Kim was not accepted"):
        b.wf.sign_in("Nurse Kim", "0000", now=b.now)
    with pytest.raises(SignInRefused, match="PIN"):
        b.wf.sign_in("nurse  kim", None, now=b.now)
    assert b.wf.user is None
    b.wf.sign_in("nurse kim", "2468", now=b.now)
    assert b.wf.user == "Nurse Kim" and b.wf.user_role == "nurse" and b.wf.sign_in_verified
    assert b.wf.sign_in_notice is None
    event = b.events[-1]
    assert event.kind == "sign_in" and event.data["verified"] is True and event.data["role"] == "nurse"
    assert "2468" not in repr(b.events)


def test_a_site_that_requires_users_refuses_an_unlisted_name():
    b = bed_with(SiteUsers.from_site(site(required=True)))
    with pytest.raises(SignInRefused, match="not a user of this console"):
        b.wf.sign_in("Someone Else", "1234", now=b.now)


def test_an_unlisted_name_where_users_are_not_required_is_marked_unverified():
    b = bed_with(SiteUsers.from_site(site()))
    b.wf.sign_in("Agency Nurse", None, now=b.now)
    assert not b.wf.sign_in_verified and "not a user of this console" in b.wf.sign_in_notice
    assert b.events[-1].data["verified"] is False and "not verified" in b.events[-1].text


def test_a_live_session_without_users_says_sign_in_is_not_verified():
    b = bed_with(None)
    b.wf.sign_in("Nurse Kim", now=b.now)
    assert not b.wf.sign_in_verified
    assert b.wf.sign_in_notice == "Sign-in not verified: no users are configured for this console"
    assert b.events[-1].data["verified"] is False and "sign-in not verified" in b.events[-1].text


def test_training_without_users_is_labelled_training():
    b = bed_with(None, simulated=True)
    b.wf.sign_in("root (training)", now=b.now)
    assert b.wf.sign_in_notice == "Training: sign-in not verified"
    assert b.events[-1].data["simulated"] is True


def test_a_name_with_control_characters_cannot_sign_in():
    b = bed_with(None)
    with pytest.raises(SignInRefused, match="invisible control"):
        b.wf.sign_in("Kim\u202e", now=b.now)


# ---------------------------------------------------------------- sign-off
def to_discharge_check(b):
    from test_workflow_charting import run_to_discharge_check

    run_to_discharge_check(b)
    assert b.wf.phase == Phase.DISCHARGE_CHECK


def test_without_users_the_clinician_must_be_another_person():
    b = Bed()  # Nurse Kim signed in, no site users
    to_discharge_check(b)
    with pytest.raises(WorkflowError, match="another person"):
        b.wf.sign_off("nurse kim", now=b.now, reason_code="assessed", reason="seen and fit to go home")
    b.wf.sign_off("Dr. Rivera", now=b.now, reason_code="assessed", reason="seen and fit to go home")
    signed = next(e for e in b.events if e.kind == "sign_off")
    assert signed.data["clinician_verified"] is False and "not verified" in signed.text


@pytest.mark.parametrize(("code", "text", "words"), [
    (None, "seen at the bedside, fit to go", "choose the reason from the list"),
    ("because", "seen at the bedside, fit to go", "choose the reason from the list"),
    ("assessed", "x", "at least 3 words"), ("assessed", "ok ok ok", "at least 3 words"),
    ("other", "   ", "at least 3 words")])
def test_unmet_criteria_need_a_reason_of_substance(code, text, words):
    b = Bed()
    to_discharge_check(b)
    with pytest.raises(WorkflowError, match=words):
        b.wf.sign_off("Dr. Rivera", now=b.now, reason_code=code, reason=text)
    assert b.wf.phase == Phase.DISCHARGE_CHECK


def test_with_users_only_a_clinician_with_the_pin_signs_off():
    b = bed_with(SiteUsers.from_site(site()))
    b.wf.sign_in("Nurse Kim", "2468", now=b.now)
    to_discharge_check(b)
    why = dict(reason_code="assessed", reason="seen at the bedside, fit to go home")
    with pytest.raises(WorkflowError, match="not a clinician"):
        b.wf.sign_off("Nurse Kim", now=b.now, pin="2468", **why)
    with pytest.raises(WorkflowError, match="not a clinician"):
        b.wf.sign_off("Sam Tech", now=b.now, pin="9999", **why)
    with pytest.raises(WorkflowError, match="PIN for Dr Osei"):
        b.wf.sign_off("Dr Osei", now=b.now, pin="0000", **why)
    b.wf.sign_off("dr osei", now=b.now, pin="1357", **why)
    signed = next(e for e in b.events if e.kind == "sign_off")
    assert signed.data["clinician"] == "Dr Osei" and signed.data["clinician_verified"] is True
    assert signed.data["reason_code"] == "assessed" and "seen at the bedside" in signed.data["reason"]
    assert b.wf.phase == Phase.DISCHARGED


# ---------------------------------------------------------------- the command
def run_hash_pin(stdin):
    env = {k: v for k, v in os.environ.items() if k != "INFUSION_CONSOLE_SITE"}
    return subprocess.run([sys.executable, "-m", "console", "hash-pin", "--stdin"], input=stdin,
                          capture_output=True, text=True, timeout=60, env=env)


def test_hash_pin_prints_a_hash_the_site_file_accepts():
    done = run_hash_pin("4812\n")
    assert done.returncode == 0, done.stderr
    pin_hash = done.stdout.strip()
    assert "4812" not in done.stdout and verify_pin("4812", pin_hash)
    SiteConfig(users=(User(name="A", role="nurse", pin_hash=pin_hash),))


@pytest.mark.parametrize("stdin", ["12\n", "abcd\n", ""])
def test_hash_pin_refuses_a_short_or_missing_pin(stdin):
    done = run_hash_pin(stdin)
    assert done.returncode == 2 and "PIN" in done.stderr and not done.stdout
