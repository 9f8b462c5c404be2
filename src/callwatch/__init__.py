"""callwatch: checks an office PBX's calls against its service charter, from SIP signalling."""

__version__ = "0.1.0"
