"""A password hasher for the test process: Django's PBKDF2-SHA256 at one iteration.

At the product's 1,000,000 iterations every ``create_user`` and every login the tests do
costs a third of a second of CPU (0.6 s on a loaded 2-CPU machine): about 400 of them in
one run, a quarter of the suite's time, spent proving nothing about Starter.

The algorithm name stays ``pbkdf2_sha256`` and a hash carries its own iteration count, so
the live stack's processes (which keep the product's settings and hasher) verify the
passwords of users the tests create, and upgrade them on a successful login as they would
an old hash. What the stack itself hashes (sign-ups, failed guesses) costs what it costs
in production.
"""

from __future__ import annotations

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class OneIterationPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    iterations = 1
