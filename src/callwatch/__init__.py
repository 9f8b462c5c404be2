"""callwatch: checks an office PBX's calls against its service charter, from SIP signalling."""

__version__ = "0.1.0"


def core_build() -> str:
    """``compiled`` when the per-packet core was built with mypyc (``CALLWATCH_COMPILE=1``),
    else ``interpreted``."""
    from callwatch import pipeline  # importing the package alone does not load the core
    from callwatch.frozen import runs_compiled

    return "compiled" if runs_compiled(pipeline.__file__) else "interpreted"
