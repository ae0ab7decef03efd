"""The product's settings with the test process's one-iteration password hasher
(tests/support/hashers.py), for web processes that a test sends many failed logins.

Every failed guess costs a web process a full PBKDF2 run (Django hashes the guess at the
product's work factor even against a cheaper stored hash, so failures all take as long):
0.3-0.6 s each, 62 guesses in tests/accounts/test_login_limits_across_processes.py, none
of it part of what the test proves (how failures are counted across processes).
"""

from __future__ import annotations

from starter.settings import *  # noqa: F403

PASSWORD_HASHERS = ["tests.support.hashers.OneIterationPBKDF2PasswordHasher"]
