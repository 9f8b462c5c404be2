"""Charter profiles, the rules that judge customer calls against them, and the callback book."""

from callwatch.charter.callbacks import Callback, CallbackBook, CallbackStatus
from callwatch.charter.errors import (
    CallbackError,
    CharterError,
    ProfileError,
    UnknownProfileError,
)
from callwatch.charter.hours import BusinessHours
from callwatch.charter.profile import Profile, builtin_profiles, load_profile
from callwatch.charter.rules import judge
from callwatch.charter.verdict import Verdict

__all__ = [
    "BusinessHours",
    "Callback",
    "CallbackBook",
    "CallbackError",
    "CallbackStatus",
    "CharterError",
    "Profile",
    "ProfileError",
    "UnknownProfileError",
    "Verdict",
    "builtin_profiles",
    "judge",
    "load_profile",
]
