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


def test_verdict_details_are_worded_in_each_language() -> None:
    from callwatch.charter.verdict import detail_code
    from callwatch.i18n import detail_text

    code = detail_code("transfer.connected", kind="blind", from_="2002", to="2009")
    assert detail_text(code, "ko") == "바로 돌려주기 2002 → 2009"
    assert detail_text(code, "en") == "blind transfer 2002 → 2009"
    assert detail_text(detail_code("answer.staff", by="2002"), "ko") == "응답: 2002"
    assert detail_text(detail_code("callback.kept", by="3001"), "ko") == "기한 내 회신: 3001"
    assert detail_text(detail_code("callback.kept", by="3001"), "en") == "Kept by 3001"
    hangup = detail_text(detail_code("hangup.caller", handset_delay_s=2.0), "ko")
    assert hangup.startswith("고객이 먼저 끊음") and "2초" in hangup
    # the English prose earlier versions stored reads as the same facts
    legacy = {
        "answered by 2002": "응답: 2002",
        "blind transfer 2002 → 2009": "바로 돌려주기 2002 → 2009",
        "attended transfer 2002 → 2003 never connected": "확인 후 돌려주기 2002 → 2003, 연결 안 됨",
        "kept by 3001": "기한 내 회신: 3001",
        "missed": "회신 안 함",
        "late by 2003 (time requested by the caller)": "늦은 회신: 2003 (고객이 원한 시간)",
        "rang to the limit unanswered": "한도까지 울렸으나 응답 없음",
    }
    for text, ko in legacy.items():
        assert detail_text(text, "ko") == ko, text
    first_bye = "first BYE from the caller; the 1 s handset delay is not visible in signalling"
    assert detail_text(first_bye, "ko").startswith("고객이 먼저 끊음 (첫 BYE); 끊은 뒤 1초")
    # what no catalogue wording covers is shown as stored
    assert detail_text("사용자 정의 설명", "en") == "사용자 정의 설명"
    assert detail_text("", "ko") == ""


def test_units_as_the_charters_word_them() -> None:
    from callwatch.i18n import NBSP, limit, measure, points, span, weeks

    def plain(text: str) -> str:
        assert not re.search(r"\d [a-z]", text), text  # a unit never breaks off its number
        return text.replace(NBSP, " ")

    assert measure("answer", 12.0, "ko", rings=5) == "12초 (벨 5회)"
    assert plain(measure("answer", 12.34, "en", rings=1)) == "12.3 s (1 ring)"
    assert limit("answer", 6.0, "ko", rings=3) == "6초 (벨 3회 전)"
    assert measure("callback", 7200.0, "ko") == "2시간"
    assert limit("callback", 10800.0, "ko") == "3시간"
    assert plain(limit("callback", 10800.0, "en")) == "3 h"
    assert measure("callback", 2400.0, "ko") == "40분"
    assert measure("callback", 9060.0, "ko") == "2시간 31분"
    assert plain(measure("callback", 9060.0, "en")) == "2 h 31 min"
    assert span(151 * 60, "ko") == "2시간 31분" and span(33 * 60, "ko") == "33분"
    assert points(6.4, "ko") == "+6.4%p" and plain(points(-3.05, "en")) == "-3.0 pts"
    assert measure("transfer", None, "ko") == "—"
    assert weeks(1, "en") == "1 week" and weeks(4, "en") == "4 weeks" and weeks(1, "ko") == "1주"
