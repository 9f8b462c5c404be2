"""The site directory: extension specs, number normalisation, lookups and config mistakes."""

from __future__ import annotations

import pytest

from callwatch.calls.directory import (
    Department,
    Directory,
    ExtensionPattern,
    ExtensionRange,
    normalize_number,
    parse_extension,
)
from callwatch.calls.errors import CallsError, DirectoryError


def civil_and_tax() -> Directory:
    return Directory(
        [
            Department("민원", "Civil Affairs", ("2001-2009", "2100"), ("0613390000", "2000")),
            Department("세무", "Tax", ("3001-3009",), ("061-339-1000",), charter="mokpo"),
        ],
        default_charter="naju",
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+82 61-339-0000", "0613390000"),
        ("+820613390000", "0613390000"),
        ("(061) 339.0000", "0613390000"),
        ("2001", "2001"),
        ("+1 555 0100", "+15550100"),
        ("anonymous", "anonymous"),
        (None, None),
    ],
)
def test_normalize_number(raw: str | None, expected: str | None) -> None:
    assert normalize_number(raw) == expected


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [
        ("2001-2009", "2001", "2009"),
        ("2100", "2100", "2100"),
        (2100, "2100", "2100"),
        (" 0100 - 0199 ", "0100", "0199"),
    ],
)
def test_extension_specs_parse(spec: str | int, first: str, last: str) -> None:
    rng = ExtensionRange.parse(spec)
    assert (rng.first, rng.last) == (first, last)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("20a1", "not a number"),
        ("2009-2001", "backwards"),
        ("200-2001", "different lengths"),
        ("", "not a number"),
        ("2001-", "not a number"),
        ("２００１", "not a number"),
    ],
)
def test_bad_extension_specs_are_explained(spec: str, words: str) -> None:
    with pytest.raises(DirectoryError, match=words):
        ExtensionRange.parse(spec)


def test_ranges_match_only_same_length_numbers() -> None:
    rng = ExtensionRange.parse("0100-0199")
    assert "0150" in rng
    assert "150" not in rng
    assert "0200" not in rng
    assert "01a0" not in rng


def test_lookups() -> None:
    directory = civil_and_tax()
    assert directory.is_staff("2005")
    assert directory.is_staff("2100")
    assert directory.is_staff("2-005")  # separators are stripped before the lookup
    assert not directory.is_staff("2010")
    assert not directory.is_staff("2000")  # a ring group is a number, not a phone
    assert not directory.is_staff(None)
    assert not directory.is_staff("anonymous")
    assert directory.department_of_extension("3004") == "세무"
    assert directory.department_of_extension("0613390000") is None
    assert directory.department_of_number("+82 61 339 0000") == "민원"
    assert directory.department_of_number("0613391000") == "세무"
    assert directory.department_of_number("2001") is None
    assert directory.is_ours("2000") and directory.is_ours("3001")
    assert not directory.is_ours("0101234567")


def test_ranges_of_several_lengths_answer_like_a_scan_of_every_range() -> None:
    directory = Directory(
        [
            Department("a", extensions=("100-199", "2001-2009")),
            Department("b", extensions=("30000-30010",)),
        ]
    )
    ranges = [(d.name, r) for d in directory.departments for r in d.extensions]
    for user in ("150", "99", "2005", "2010", "30005", "3000", "01012345678", "+82 2005", ""):
        number = normalize_number(user)
        want = next((name for name, r in ranges if number in r), None)
        assert directory.department_of_extension(user) == want, user
    assert directory.is_staff("150") and directory.is_staff("30010")
    assert not directory.is_staff("01012345678")


def test_charter_of_falls_back_to_the_default() -> None:
    directory = civil_and_tax()
    assert directory.charter_of("민원") == "naju"
    assert directory.charter_of("세무") == "mokpo"
    assert directory.charter_of(None) == "naju"
    with pytest.raises(DirectoryError, match="no department named"):
        directory.charter_of("총무")


def test_overlapping_ranges_between_departments_are_an_error() -> None:
    with pytest.raises(DirectoryError) as caught:
        Directory(
            [
                Department("민원", extensions=("2001-2009",)),
                Department("세무", extensions=("2005-2012", "3001")),
            ]
        )
    assert "2001-2009 of '민원' overlap extensions 2005-2012 of '세무'" in str(caught.value)
    assert isinstance(caught.value, CallsError)


def test_overlap_within_one_department_is_harmless() -> None:
    directory = Directory([Department("민원", extensions=("2001-2009", "2005"))])
    assert directory.is_staff("2005")


def test_numbers_claimed_twice_or_equal_to_an_extension_are_errors() -> None:
    with pytest.raises(DirectoryError) as caught:
        Directory(
            [
                Department("민원", extensions=("2001-2009",), numbers=("2000",)),
                Department("세무", extensions=("3001",), numbers=("2000", "2005")),
            ]
        )
    problems = caught.value.problems
    assert any("2000 is listed by both '민원' and '세무'" in p for p in problems)
    assert any("2005 of '세무' is an extension of '민원'" in p for p in problems)


def test_from_config_builds_the_directory() -> None:
    directory = Directory.from_config(
        {
            "site": {"name": "naju-cityhall", "charter": "naju"},
            "departments": [
                {
                    "name": "민원",
                    "name_en": "Civil Affairs",
                    "extensions": ["2001-2009", "2100"],
                    "numbers": ["0613390000", "2000"],
                },
                {"name": "세무", "extensions": ["3001-3009"], "charter": "mokpo"},
            ],
        }
    )
    assert [d.name for d in directory.departments] == ["민원", "세무"]
    assert directory.department("민원").name_en == "Civil Affairs"
    assert directory.charter_of("세무") == "mokpo"
    assert directory.is_staff("2100")


def test_from_config_reports_every_mistake_at_once() -> None:
    with pytest.raises(DirectoryError) as caught:
        Directory.from_config(
            {
                "site": {"charter": 5},
                "departments": [
                    {"name": "민원", "extensions": ["20x1"], "phone": "1"},
                    {"name": "세무", "extensions": "3001"},
                    {"name": "총무", "numbers": ["call me"]},
                    {"extensions": ["4001"]},
                ],
            }
        )
    text = "\n".join(caught.value.problems)
    assert "site.charter must be a charter name" in text
    assert "departments[0] ('민원'): unknown key 'phone'" in text
    assert "departments[0]: department '민원': extension '20x1' is not a number" in text
    assert "departments[1] ('세무'): extensions must be a list" in text
    assert "departments[2]: department '총무': number 'call me' is not a phone number" in text
    assert "departments[3]: a department needs a non-empty name" in text
    assert len(caught.value.problems) == 6


def test_from_config_rejects_a_non_list_of_departments() -> None:
    with pytest.raises(DirectoryError, match=r"array of tables"):
        Directory.from_config({"departments": {"name": "민원"}})


def named_site() -> Directory:
    return Directory(
        [
            Department("민원", extensions=("2001-2009", "reception", "telephone*", "front-desk")),
            Department("세무", extensions=("3001-3009", "test[0-9]*", "30??")),
        ]
    )


@pytest.mark.parametrize(
    ("user", "department"),
    [
        ("reception", "민원"),
        ("Reception", "민원"),  # names match without regard to case
        ("telephone1", "민원"),
        ("telephone", "민원"),
        ("front-desk", "민원"),
        ("front.desk", "민원"),  # the separators numbers lose are ignored on both sides
        ("test18", "세무"),
        ("TEST7", "세무"),
        ("3010", "세무"),  # "30??" matches four digits starting 30
        ("2005", "민원"),
        ("tester", None),
        ("receptionist", None),
        ("anonymous", None),
        ("01012345678", None),
        ("301", None),
    ],
)
def test_names_and_patterns_are_staff(user: str, department: str | None) -> None:
    directory = named_site()
    assert directory.department_of_extension(user) == department
    assert directory.is_staff(user) is (department is not None)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("2001–2009", "did you mean '2001-2009'"),  # an en dash
        ("2001~2009", "did you mean '2001-2009'"),
        ("2001..2009", "did you mean '2001-2009'"),
        ("２００１", "did you mean '2001'"),  # full-width digits
        ("sip:reception@pbx.example", "did you mean 'reception'"),
        ("test%", r"did you mean 'test\*'"),
        ("test\\d+", r"did you mean 'test\*'"),
        ("test[1-", "unclosed '\\['"),
        ("*", "matches every caller"),
        ("접수", "not a phone name"),
        ("20x1", "not a number.*starts with a letter"),
        ("2009-2001", "backwards"),
    ],
)
def test_mistakes_in_names_and_patterns_are_explained(spec: str, words: str) -> None:
    with pytest.raises(DirectoryError, match=words):
        parse_extension(spec)


def test_parse_extension_tells_names_patterns_and_ranges_apart() -> None:
    assert "test7" in parse_extension("test.*")  # '.' is a separator: "test.*" is "test*"
    assert parse_extension("2001-2009") == ExtensionRange("2001", "2009")
    name, pattern = parse_extension("reception"), parse_extension("test*")
    assert isinstance(name, ExtensionPattern) and not name.is_glob
    assert isinstance(pattern, ExtensionPattern) and pattern.is_glob
    assert str(pattern) == "test*"


def test_a_phone_two_departments_could_own_is_an_error() -> None:
    with pytest.raises(DirectoryError) as caught:
        Directory(
            [
                Department("민원", extensions=("reception", "2001-2009")),
                Department("세무", extensions=("rec*", "200?")),
            ]
        )
    problems = caught.value.problems
    assert len(problems) == 2 and all("match the same phone" in p for p in problems)
    assert "reception of '민원' and rec* of '세무'" in problems[0]
    assert "200? of '세무' and 2001-2009 of '민원'" in problems[1]
