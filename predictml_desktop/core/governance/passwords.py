"""The admin password: argon2id hashers, the password policy, and the admin's name.

NIST SP 800-63B-4 and OWASP Password Storage: at least 15 characters (code points after NFKC
normalisation), at most 1,024, no composition rules, never truncated, refused if it is on the shipped
list of 30,000 common passwords (``resources/common-passwords.txt``), is the admin's name, or is one
short sequence repeated. Stored only as an argon2id hash (m=64 MiB, t=3, p=1: above OWASP's
m=19 MiB, t=2 floor).
"""

from __future__ import annotations

import functools
import unicodedata

from argon2 import PasswordHasher, Type

from predictml_desktop.core.governance.errors import GovernanceError, PasswordPolicyError
from predictml_desktop.core.resources import resource_path

MIN_PASSWORD_CHARS = 15
MAX_PASSWORD_CHARS = 1024
"""Far above NIST's "at least 64"; only bounds the work an absurd input can cause."""
MAX_NAME_CHARS = 200


PRODUCTION_HASH_PARAMS: dict[str, int] = {"time_cost": 3, "memory_cost": 65536, "parallelism": 1}
"""argon2id parameters of new hashes: RFC 9106's low-memory profile with one lane (p=1)."""
OWASP_FLOOR: dict[str, int] = {"time_cost": 2, "memory_cost": 19456, "parallelism": 1}

BLOCKLIST_FILE = "common-passwords.txt"


def production_hasher() -> PasswordHasher:
    """Return the argon2id hasher used for real accounts (see `PRODUCTION_HASH_PARAMS`)."""
    return PasswordHasher(
        time_cost=PRODUCTION_HASH_PARAMS["time_cost"],
        memory_cost=PRODUCTION_HASH_PARAMS["memory_cost"],
        parallelism=PRODUCTION_HASH_PARAMS["parallelism"],
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )


def cheap_hasher_for_tests() -> PasswordHasher:
    """Return a deliberately weak argon2id hasher. Only tests may pass it to `Governance`."""
    return PasswordHasher(type=Type.ID, time_cost=1, memory_cost=8, parallelism=1, salt_len=16, hash_len=16)


@functools.lru_cache(maxsize=1)
def load_blocklist() -> frozenset[str]:
    """Return the shipped common passwords, NFKC-normalised and case-folded.

    Raises
    ------
    GovernanceError
        If the list is missing from the installation (the policy cannot be checked then).
    """
    path = resource_path(BLOCKLIST_FILE)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GovernanceError(
            f"The list of common passwords ({path}) is missing from this installation; reinstall PredictML."
        ) from exc
    return frozenset(_fold(line) for line in text.splitlines() if line.strip())


def normalise_password(password: str) -> str:
    """Return the NFKC form of ``password``, which is what is hashed (so "ﬁ" and "fi" match)."""
    return unicodedata.normalize("NFKC", password)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def _repeats_short_sequence(text: str) -> bool:
    # "aaaaaaaaaaaaaaa", "abcabcabcabcabc", "passwordpassword": a long password made of one short
    # piece adds no strength. Periods up to 8 characters are checked.
    for period in range(1, min(8, len(text) // 2) + 1):
        if len(text) % period == 0 and text == text[:period] * (len(text) // period):
            return True
    return False


def check_password_policy(password: str, *, name: str | None = None) -> str:
    """Return the normalised password if the policy accepts it.

    Parameters
    ----------
    password
        The candidate, as typed or pasted.
    name
        The admin's name; the password may not be the name.

    Raises
    ------
    PasswordPolicyError
        With the reason: too short, too long, common, the name, or a repeated sequence.
    """
    if not isinstance(password, str):
        raise PasswordPolicyError("The password must be text.")
    normal = normalise_password(password)
    length = len(normal)
    if length < MIN_PASSWORD_CHARS:
        raise PasswordPolicyError(
            f"The password has {length} characters; it needs at least {MIN_PASSWORD_CHARS}. "
            "A few unrelated words make a long password that is easy to remember."
        )
    if length > MAX_PASSWORD_CHARS:
        raise PasswordPolicyError(f"The password has {length} characters; at most {MAX_PASSWORD_CHARS} are accepted.")
    folded = _fold(normal)
    if folded in load_blocklist():
        raise PasswordPolicyError("This password is on the list of commonly used passwords; choose another one.")
    if name and folded == _fold(name):
        raise PasswordPolicyError("The password may not be the admin's name.")
    if _repeats_short_sequence(folded):
        raise PasswordPolicyError("The password repeats one short sequence; choose a less predictable one.")
    return normal


def check_admin_name(name: str) -> str:
    """Return the admin's name, NFKC-normalised and stripped.

    Raises
    ------
    GovernanceError
        If it is not text, empty, longer than `MAX_NAME_CHARS`, or holds control characters.
    """
    if not isinstance(name, str):
        raise GovernanceError("The admin name must be text.")
    cleaned = unicodedata.normalize("NFKC", name).strip()
    if not cleaned:
        raise GovernanceError("The admin needs a name or an e-mail address.")
    if len(cleaned) > MAX_NAME_CHARS:
        raise GovernanceError(f"The admin name has {len(cleaned)} characters; at most {MAX_NAME_CHARS} are accepted.")
    if any(unicodedata.category(ch) == "Cc" for ch in cleaned):
        raise GovernanceError("The admin name may not contain control characters.")
    return cleaned
