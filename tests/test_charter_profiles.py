"""Charter profiles: the five built-ins say what their texts say; bad files name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from callwatch.charter import registry
from callwatch.charter.errors import ProfileError, UnknownProfileError
from callwatch.charter.profile import PROFILE_KEYS, TYPED_TABLES
from callwatch.profile_files import ProfileFile, builtin_profiles, load_profile, profile_model

CHARTERS = Path(__file__).resolve().parent.parent / "docs" / "charters"

US_PROFILE = """
id = "us-office"
source_file = "none"
[name]
ko = "미국 사무소"
en = "US office"
[cadence]
on_s = 2.0
off_s = 4.0
[answer]
before_ring = 3
source = "Answer before the third ring."
"""


def test_five_builtins_with_the_promises_of_their_texts() -> None:
    profiles = builtin_profiles()
    assert sorted(profiles) == ["dangjin", "mokpo", "naju", "wanju", "yangju"]
    limits = {k: p.transfer_limit_s for k, p in profiles.items()}
    assert limits == {"naju": 10.0, "wanju": 10.0, "mokpo": 10.0, "dangjin": None, "yangju": None}
    deadlines = {k: p.callback and p.callback.deadline_s for k, p in profiles.items()}
    assert deadlines == {
        "naju": 3600.0,
        "mokpo": 10800.0,
        "wanju": 1800.0,
        "dangjin": None,
        "yangju": None,
    }
    assert profiles["yangju"].callback is None
    assert profiles["dangjin"].callback is not None
    assert profiles["dangjin"].callback.promised_time
    for p in profiles.values():
        assert p.answer_before_ring == 3
        assert (p.cadence.on_s, p.cadence.off_s) == (1.0, 2.0)
        assert p.answer_limit_s == 6.0
        assert p.hangup is not None and p.hangup.caller_first
        if p.callback is not None:
            assert p.callback.deadline_clock == "wall"
            assert p.callback.keeps in ("answered", "attempt")
            assert p.callback.keeps_why
    assert profiles["naju"].hangup.staff_delay_s == 1.0
    assert profiles["wanju"].hangup.staff_delay_s == 2.0
    assert "cannot observe" in profiles["naju"].hangup.note
    assert profiles["mokpo"].transfer is not None and not profiles["mokpo"].transfer.inclusive
    assert profiles["naju"].transfer is not None and profiles["naju"].transfer.inclusive


@pytest.mark.parametrize("name", ["naju", "wanju", "dangjin", "yangju", "mokpo"])
def test_quoted_sources_are_verbatim_sentences_of_the_charter(name: str) -> None:
    profile = load_profile(name)
    text = (CHARTERS / profile.source_file).read_text(encoding="utf-8")
    rules = [profile.answer, profile.transfer, profile.hangup, profile.callback]
    quoted = [r.source for r in rules if r is not None]
    assert quoted
    for sentence in quoted:
        assert sentence in text, sentence


def test_site_profile_file_with_another_cadence(tmp_path: Path) -> None:
    path = tmp_path / "us.toml"
    path.write_text(US_PROFILE, encoding="utf-8")
    profile = load_profile(path)
    assert profile.id == "us-office"
    assert profile.cadence.period_s == 6.0
    assert profile.answer_limit_s == 12.0
    assert profile.transfer is None and profile.hangup is None and profile.callback is None


def test_default_cadence_is_korean(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(US_PROFILE.replace("on_s = 2.0\noff_s = 4.0\n", ""), encoding="utf-8")
    assert load_profile(path).answer_limit_s == 6.0


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (("before_ring = 3", "before_ring = 1"), "answer.before_ring"),
        (("before_ring = 3", 'before_ring = "3"'), "answer.before_ring"),
        (("on_s = 2.0", "on_s = -1"), "cadence.on_s"),
        (("on_s = 2.0", "onn_s = 2.0"), "cadence.onn_s"),
        (('id = "us-office"', 'idd = "us-office"'), "idd"),
        (('source = "Answer before the third ring."', ""), "answer.source"),
        (("[name]", "[nam]"), "nam"),
    ],
)
def test_bad_profile_names_file_and_key(tmp_path: Path, edit: tuple[str, str], key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(US_PROFILE.replace(*edit), encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.key == key
    assert info.value.path == str(path)
    assert str(path) in str(info.value)


def test_callback_table_needs_a_deadline_or_a_promised_time(tmp_path: Path) -> None:
    path = tmp_path / "cb.toml"
    path.write_text(
        US_PROFILE + '[callback]\nkeeps = "attempt"\nkeeps_why = "x"\nsource = "y"\n',
        encoding="utf-8",
    )
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.key == "callback.deadline_min"


def test_broken_toml_and_missing_file_and_unknown_name(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('id = "x\n', encoding="utf-8")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(path)
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(tmp_path / "absent.toml")
    with pytest.raises(UnknownProfileError, match="najo"):
        load_profile("najo")


def test_the_file_model_takes_the_keys_the_core_and_the_registry_declare() -> None:
    # the typed tables' models and the registry's keys are written in two places: one list
    assert tuple(ProfileFile.model_fields) == PROFILE_KEYS
    model = profile_model()
    declared = {rule.section: set(rule.keys) for rule in registry.rules()}
    assert set(model.model_fields) == {*PROFILE_KEYS, *declared}
    for section in TYPED_TABLES:
        table = model.model_fields[section].annotation
        fields = {
            name
            for arg in (*getattr(table, "__args__", ()), table)
            if isinstance(arg, type) and hasattr(arg, "model_fields")
            for name in arg.model_fields
        }
        assert fields == declared[section], section


def test_an_unknown_key_names_the_key_it_was_probably_meant_to_be(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(US_PROFILE.replace("before_ring", "befor_ring"), encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.key == "answer.befor_ring"
    assert info.value.message == "unknown key (did you mean 'before_ring'?)"
