"""Charter profiles, the rules that judge customer calls against them, and the callback book.

The core side: plain data and pure functions. Profile files are read by
:mod:`callwatch.profile_files`. Importing this package registers the built-in rules
(:mod:`callwatch.charter.rules`) in :mod:`callwatch.charter.registry`, so any module that
reads the registry sees them.
"""

from callwatch.charter import rules as _rules  # noqa: F401  (registers the built-in rules)
