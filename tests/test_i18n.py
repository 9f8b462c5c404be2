"""The ko/en catalogue."""

from __future__ import annotations

import re
import string

import pytest

from callwatch.i18n import RULES, UnknownKey, UnknownLanguage, catalogue, keys, normalize_lang, t


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_has_both_languages_with_the_same_placeholders() -> None:
    ko, en = catalogue("ko"), catalogue("en")
    for key in keys():
        assert ko[key].strip() and en[key].strip(), key
        assert _fields(ko[key]) == _fields(en[key]), key
        assert not re.search(r"[가-힣]", en[key]), f"Hangul in the English text of {key}"


def test_rules_statuses_and_params() -> None:
    assert [t(f"rule.{r}") for r in RULES] == ["응답 속도", "전화 연결", "끊는 순서", "회신 전화"]
    assert t("rule.answer", "en") == "Answer speed"
    assert t("rule.answer.limit", rings=3) == "벨이 3회 울리기 전에 응답"
    assert t("status.not_in_charter", "en") == "Not part of this charter"
    assert t("callback.late", "ko") == "늦은 회신"


def test_errors_and_language_input() -> None:
    with pytest.raises(UnknownKey):
        t("rule.nonexistent")
    with pytest.raises(UnknownLanguage):
        t("rule.answer", "fr")
    assert normalize_lang("en-US") == "en" and normalize_lang("EN_gb") == "en"
    assert normalize_lang(None) == "ko" and normalize_lang("fr") == "ko"
