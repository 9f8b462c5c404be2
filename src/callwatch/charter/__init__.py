"""Charter profiles, the rules that judge customer calls against them, and the callback book.

The core side: plain data and pure functions. Profile files are read by
:mod:`callwatch.profile_files`.
"""
