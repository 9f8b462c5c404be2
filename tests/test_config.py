"""The site file: the example loads; every mistake is reported at once, with line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from callwatch.config import ConfigError, check_config, load_site

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "site.toml"

BAD = """\
[sitee]
name = "x"

[[departments]]
name = "민원"
extensionz = ["2001-2009"]
extensions = ["2001-2009", "2100-20"]
numbers = ["0613390000", "2000"]
charter = "naju2"

[[departments]]
name = "세무"
extensions = ["2005-2010", 12.5]
numbers = ["0613390000", "abc"]
charter = 3

[correlation]
headers = ["X-CID", "bad header"]
"""

BAD_SITE = """\
[site]
name = "x"
timezone = "Asia/Seul"
charter = "najo"
tz = 1
[site.business_hours]
start = "25:00"
days = ["mon", "funday"]
holidays = "XX"
"""


def write(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_example_site_loads() -> None:
    assert check_config(EXAMPLE) == []
    site = load_site(EXAMPLE)
    assert (site.name, site.timezone, site.charter) == ("naju-cityhall", "Asia/Seoul", "naju")
    assert site.correlation_headers == ("X-CID", "X-Asterisk-Linkedid")
    assert [d.name for d in site.directory.departments] == ["민원", "세무"]
    assert site.directory.department_of_extension("2005") == "민원"
    assert site.directory.department_of_extension("3009") == "세무"
    assert site.directory.department_of_number("0613390000") == "민원"
    assert site.profile_for("민원").id == "naju"
    assert site.profile_for("세무").id == "mokpo"
    assert site.profile_for(None).id == "naju"
    assert site.business_hours is None


def test_every_mistake_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, BAD)
    problems = check_config(path)
    found = {(p.key, p.line) for p in problems}
    assert found == {
        ("sitee", 1),
        ("site", None),
        ("departments[0].extensionz", 6),
        ("departments[0].extensions[1]", 7),
        ("departments[0].charter", 9),
        ("departments[1].extensions[0]", 13),
        ("departments[1].extensions[1]", 13),
        ("departments[1].numbers[0]", 14),
        ("departments[1].numbers[1]", 14),
        ("departments[1].charter", 15),
        ("correlation.headers[1]", 18),
    }
    text = {p.key: p.message for p in problems}
    assert "did you mean 'site'" in text["sitee"]
    assert "did you mean 'extensions'" in text["departments[0].extensionz"]
    assert "did you mean 'naju'" in text["departments[0].charter"]
    assert "overlap 2001-2009 of '민원'" in text["departments[1].extensions[0]"]
    assert "also listed by '민원'" in text["departments[1].numbers[0]"]
    assert all(p.path == str(path) for p in problems)
    assert str(problems[0]) == f"{path}:1: sitee: unknown key (did you mean 'site'?)"
    # in the order of the file; the missing [site] table, which has no line, last
    lines = [p.line for p in problems]
    assert lines[-1] is None and lines[:-1] == sorted(lines[:-1])  # type: ignore[type-var]
    with pytest.raises(ConfigError) as info:
        load_site(path)
    assert len(info.value.problems) == len(problems)


def test_site_table_mistakes(tmp_path: Path) -> None:
    problems = check_config(write(tmp_path, BAD_SITE))
    text = {p.key: (p.line, p.message) for p in problems}
    assert set(text) == {
        "site.tz",
        "site.timezone",
        "site.charter",
        "site.business_hours.start",
        "site.business_hours.days[1]",
        "site.business_hours.holidays",
    }
    assert text["site.timezone"] == (
        3,
        "unknown time zone 'Asia/Seul' (did you mean 'Asia/Seoul'?)",
    )
    assert text["site.charter"][0] == 4
    assert text["site.business_hours.start"][0] == 7


def test_number_that_is_another_departments_extension(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace('numbers = ["3000"]', 'numbers = ["2005"]')
    problems = check_config(write(tmp_path, text))
    assert len(problems) == 1
    assert "2005" in problems[0].message and "세무" in problems[0].message


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    (problem,) = check_config(write(tmp_path, '[site]\nname = "x\n'))
    assert problem.line == 2 and "not valid TOML" in problem.message


def test_unreadable_file(tmp_path: Path) -> None:
    (problem,) = check_config(tmp_path / "absent.toml")
    assert "cannot read" in problem.message


def test_defaults_and_site_profile_and_business_hours(tmp_path: Path) -> None:
    write(
        tmp_path,
        'id = "custom"\nsource_file = "-"\n[name]\nko = "가"\nen = "A"\n'
        '[answer]\nbefore_ring = 4\nsource = "s"\n',
        "custom.toml",
    )
    site = load_site(
        write(
            tmp_path,
            '[site]\nname = "s"\ncharter = "custom"\nprofiles = ["custom.toml"]\n'
            '[site.business_hours]\nstart = "08:30"\ndays = ["mon", "sat"]\nholidays = false\n'
            '[[departments]]\nname = "a"\nextensions = ["100-199"]\n',
        )
    )
    assert site.timezone == "Asia/Seoul"
    assert site.profile_for("a").answer_limit_s == 9.0
    hours = site.business_hours
    assert hours is not None and hours.weekdays == frozenset({0, 5})
    assert not hours.holidays and hours.start.hour == 8 and hours.start.minute == 30
    book = site.callback_book()
    assert book.open_callbacks() == []


def test_site_profile_problems_are_reported(tmp_path: Path) -> None:
    write(tmp_path, 'id = "naju"\nsource_file = "-"\n[name]\nko = "가"\nen = "A"\n', "dup.toml")
    write(tmp_path, 'id = "x"\n[name]\nko = 1\n', "bad.toml")
    problems = check_config(
        write(
            tmp_path,
            '[site]\nname = "s"\ncharter = "naju"\n'
            'profiles = ["dup.toml", "bad.toml", "absent.toml", 7]\n',
        )
    )
    keys = [p.key for p in problems]
    assert keys == [f"site.profiles[{i}]" for i in range(4)]
    assert "already taken" in problems[0].message
    assert "bad.toml" in problems[1].message
    assert all(p.line == 4 for p in problems)


NAMED = """\
[site]
name = "x"
charter = "naju"

[[departments]]
name = "민원"
extensions = ["2001-2009", "reception", "telephone*"]

[[departments]]
name = "세무"
extensions = [
  "3001–3009",
  "sip:test18@pbx",
  "rec*",
  "desk[1-",
]
"""


def test_names_and_patterns_load(tmp_path: Path) -> None:
    site = load_site(write(tmp_path, NAMED.split('[[departments]]\nname = "세무"')[0]))
    assert site.directory.department_of_extension("telephone3") == "민원"
    assert site.directory.is_staff("reception")


def test_mistakes_in_names_and_patterns_have_lines_and_hints(tmp_path: Path) -> None:
    problems = check_config(write(tmp_path, NAMED))
    by_key = {p.key: p for p in problems}
    assert by_key["departments[1].extensions[0]"].line == 12  # the item's own line
    assert "did you mean '3001-3009'?" in by_key["departments[1].extensions[0]"].message
    assert by_key["departments[1].extensions[1]"].line == 13
    assert "did you mean 'test18'?" in by_key["departments[1].extensions[1]"].message
    assert "overlap reception of '민원'" in by_key["departments[1].extensions[2]"].message
    assert "unclosed '['" in by_key["departments[1].extensions[3]"].message
    assert len(problems) == 4
    assert by_key["departments[1].extensions[3]"].line == 15


def test_tables_of_the_wrong_kind_are_named_with_what_was_found(tmp_path: Path) -> None:
    problems = check_config(write(tmp_path, 'site = 3\ndepartments = {}\ncorrelation = "X-CID"\n'))
    assert [(p.key, p.line, p.message) for p in problems] == [
        ("site", 1, "must be a table: [site]"),
        ("departments", 2, "must be an array of tables: [[departments]]"),
        ("correlation", 3, "must be a table [correlation], not 'X-CID' (str)"),
    ]


def test_office_hours_that_end_before_they_start(tmp_path: Path) -> None:
    (problem,) = check_config(
        write(
            tmp_path,
            '[site]\nname = "x"\ncharter = "naju"\n'
            '[site.business_hours]\nstart = "18:00"\nend = "09:00"\n',
        )
    )
    assert (problem.key, problem.line) == ("site.business_hours", 4)
    assert "is not before end" in problem.message
