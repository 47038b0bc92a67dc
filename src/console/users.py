"""The site's users and their PINs (docs/site-configuration.md, "Users").

A PIN is never stored: the site file holds ``scrypt$N$r$p$salt$hash`` (hashlib.scrypt, a
random 16-byte salt per user, base64), written by ``infusion-console hash-pin``, which reads
the PIN without echo. ``verify_pin`` recomputes the hash with the stored salt and parameters
and compares in constant time (hmac.compare_digest). ``SiteUsers`` answers the workflow's two
questions: may this person sign in (``check``), and who is it (``find``, with the role).
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass

# scrypt cost: N=2**14, r=8, p=1 (16 MiB, ~50 ms here): the parameters the Python docs and
# OWASP name for interactive logins; they are stored with each hash so they can be raised.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
HASH_BYTES = 32
PIN_MIN_DIGITS = 4
ROLES = ("nurse", "clinician", "instructor", "biomedical engineer")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=HASH_BYTES,
                          maxmem=256 * 1024 * 1024)


def hash_pin(pin: str, *, salt: bytes | None = None) -> str:
    """The text to put in the site file for this PIN (a new random salt each time)."""
    salt = os.urandom(16) if salt is None else salt
    digest = _scrypt(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_pin(pin: str, pin_hash: str) -> bool:
    """Whether ``pin`` is the PIN ``pin_hash`` was made from. A malformed hash is False,
    never an exception (the site file's author is told by ``check_hash``)."""
    try:
        scheme, n, r, p, salt, digest = pin_hash.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        got = _scrypt(pin, base64.b64decode(salt, validate=True), int(n), int(r), int(p))
    except (ValueError, TypeError, MemoryError):
        return False
    return hmac.compare_digest(got, expected)


def check_hash(pin_hash: str) -> str | None:
    """Why a site file's ``pin_hash`` cannot be used, or None."""
    parts = pin_hash.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return "is not a hash made by 'infusion-console hash-pin' (scrypt$N$r$p$salt$hash)"
    try:
        n, r, p = (int(x) for x in parts[1:4])
        base64.b64decode(parts[4], validate=True)
        base64.b64decode(parts[5], validate=True)
    except ValueError:
        return "is damaged (not numbers and base64)"
    if n < 2 ** 14 or n & (n - 1) or r < 1 or p < 1:
        return "uses scrypt parameters weaker than N=16384, r=8, p=1"
    return None


@dataclass(frozen=True)
class Person:
    """Who signed in, as the record keeps it."""

    name: str
    role: str | None  # None: a name typed without a site user (not verified)
    verified: bool


class SiteUsers:
    """The users of the site file (``SiteConfig.users``) and whether they are required.

    With no users, nobody is verified: any name signs in (training as before; a live session
    says "sign-in not verified"). With users, a listed name needs its PIN; an unlisted name
    is refused when the site requires users, and otherwise signs in unverified."""

    def __init__(self, users: Iterable = (), *, required: bool = False) -> None:
        self.users = {u.name.casefold(): u for u in users}
        self.required = required

    @classmethod
    def from_site(cls, site) -> SiteUsers:
        return cls(site.users, required=site.require_users)

    @property
    def configured(self) -> bool:
        return bool(self.users)

    def find(self, name: str):
        return self.users.get(" ".join(name.split()).casefold())

    def __call__(self, name: str, pin: str | None) -> bool:
        """The workflow's ``authenticate(name, pin)`` shape: may this sign-in go ahead."""
        try:
            self.check(name, pin)
        except ValueError:
            return False
        return True

    def check(self, name: str, pin: str | None) -> Person:
        """The person signing in, or ValueError with the words to show. Messages never say
        whether the name or the PIN was wrong for a listed user... except that the name is
        not listed, which the nurse needs to know to ask the biomedical engineer."""
        user = self.find(name)
        if user is None:
            if self.required:
                raise ValueError(f"{name} is not a user of this console: ask the biomedical engineer to add you.")
            return Person(name, None, False)
        if not pin or not verify_pin(pin, user.pin_hash):
            raise ValueError(f"The PIN for {user.name} was not accepted.")
        return Person(user.name, user.role, True)


def hash_pin_main(argv: list[str] | None = None) -> int:
    """``infusion-console hash-pin``: asks for a PIN twice without echo and prints the hash
    for the site file's ``pin_hash``. The PIN itself is never printed or stored."""
    import argparse

    parser = argparse.ArgumentParser(prog="infusion-console hash-pin",
                                     description="Make the pin_hash of a user for the site configuration file.")
    parser.add_argument("--stdin", action="store_true",
                        help="read the PIN from one line of standard input (scripts), not the terminal")
    args = parser.parse_args(argv)
    try:
        if args.stdin:
            pin = sys.stdin.readline().rstrip("\r\n")
            again = pin
        else:
            pin = getpass.getpass("PIN: ")
            again = getpass.getpass("PIN again: ")
    except (EOFError, KeyboardInterrupt):
        print("infusion-console hash-pin: no PIN given", file=sys.stderr)
        return 2
    if pin != again:
        print("infusion-console hash-pin: the two PINs differ", file=sys.stderr)
        return 2
    if len(pin) < PIN_MIN_DIGITS or not pin.isascii() or not pin.isdigit():
        print(f"infusion-console hash-pin: a PIN is at least {PIN_MIN_DIGITS} digits", file=sys.stderr)
        return 2
    print(hash_pin(pin))
    return 0


main = hash_pin_main
