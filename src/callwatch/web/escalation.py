"""The escalation steps the charters set for an official who fails them, for the training
page. Wording from the published charters (docs/charters/*.txt, summarised in its
README): Naju trains after a first failure and sends to special training after a second;
Dangjin and Mokpo take personnel measures after 3 or more confirmed complaints; Yangju gives
courtesy training; Wanju sets no steps. The charters count *confirmed* complaints: the page
shows the steps beside the breaches signalling saw, as evidence to review."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Step:
    """From the ``count``-th failure on: what the charter says happens (quoted, and in
    English)."""

    count: int
    ko: str
    en: str

    def text(self, lang: str) -> str:
        return self.en if lang == "en" else self.ko


STEPS: dict[str, tuple[Step, ...]] = {
    "naju": (
        Step(1, "1차: 해당부서에서 자체교육을 실시", "1st: training within the department"),
        Step(
            2,
            "2차: 현장관리 총괄 부서에서 연2회(반기) 특별교육을 실시",
            "2nd: special training by the field-management department (twice a year)",
        ),
    ),
    "dangjin": (
        Step(1, "해당 공무원을 교육", "The official is trained"),
        Step(3, "3회 이상 누적되면 인사상 조치", "3 or more: personnel measures"),
    ),
    "mokpo": (
        Step(1, "해당 공무원에게 주의", "The official is cautioned"),
        Step(
            3,
            "3회 이상 누적될 경우 타부서 발령 등 인사 조치",
            "3 or more: personnel measures such as a transfer to another department",
        ),
    ),
    "yangju": (
        Step(
            1,
            "소속 부서장의 책임하에 친절교육을 실시",
            "Courtesy training under the head of department",
        ),
    ),
}


def steps_for(charter: str) -> tuple[Step, ...]:
    """The steps of ``charter`` (empty when it sets none)."""
    return STEPS.get(charter, ())


def reached(steps: Sequence[Step], failures: int) -> Step | None:
    """The highest step ``failures`` has reached, or None."""
    found = None
    for step in steps:
        if failures >= step.count:
            found = step
    return found
