"""Shared test settings: say plainly which slow suites the default run leaves to CI."""

from __future__ import annotations

import pytest

# Suites deselected by ``addopts`` in pyproject.toml and run by .ci/run after the README's command.
_LEFT_TO_CI = {
    "compiled": "the mypyc-compiled core (pytest -m compiled)",
    "asterisk": "the Asterisk flows recorded afresh (pytest -m asterisk)",
    "browser": "the long Chromium matrices (pytest -m browser)",
}


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    chosen = config.getoption("markexpr") or ""
    left = [what for mark, what in _LEFT_TO_CI.items() if f"not {mark}" in chosen]
    if left:
        terminalreporter.write_line("not run by this command, run by .ci/run: " + "; ".join(left))
