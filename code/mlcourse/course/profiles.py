"""Run profiles: ``quick`` (a whole chapter in at most 3 minutes on 2 CPU cores) and ``full`` (the real run).

Every chapter's ``parameters`` cell has ``profile = "quick"`` plus knobs whose default is ``None``, meaning
"the profile's value". ``resolve_profile`` merges the two and rejects what it does not know, so a typo in a
papermill parameter is an error, not a silently ignored setting. ``check_profile`` is the one check of a
profile's name, used by everything that takes one.
"""

from __future__ import annotations

from typing import Any, Mapping

PROFILES = ("quick", "full")


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is one of :data:`PROFILES`; else raise ``ValueError`` naming the valid ones.

    The one profile validation: the chapters' knobs, the run folders, the runner and the base model all call it.
    """
    if profile not in PROFILES:
        raise ValueError(f"Unknown profile {profile!r}; valid profiles are {', '.join(PROFILES)}.")
    return profile


def resolve_profile(
    profile: str,
    settings: Mapping[str, Mapping[str, Any]],
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the settings of ``profile``, with every non-``None`` value of ``overrides`` replacing its default.

    Args:
        profile: ``"quick"`` or ``"full"``.
        settings: ``{"quick": {...}, "full": {...}}``, the same keys in both.
        overrides: knob values from the parameters cell; ``None`` means "keep the profile's value".

    Raises ``ValueError`` naming the valid profiles or knobs.
    """
    check_profile(profile)
    missing = [p for p in PROFILES if p not in settings]
    if missing:
        raise ValueError(f"settings lack the profile(s) {missing}; give both {PROFILES}.")
    if set(settings["quick"]) != set(settings["full"]):
        raise ValueError("the quick and full settings must have the same keys.")
    chosen = dict(settings[profile])
    for name, value in (overrides or {}).items():
        if name not in chosen:
            raise ValueError(f"Unknown setting {name!r}; valid ones are {', '.join(sorted(chosen))}.")
        if value is not None:
            chosen[name] = value
    return chosen
