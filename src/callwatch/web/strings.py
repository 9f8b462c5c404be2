"""Page-only strings in Korean and English (shared wording — rule names, statuses, units —
comes from :mod:`callwatch.i18n`). :func:`tr` looks here first, then in the shared catalogue."""

from __future__ import annotations

from callwatch.i18n import normalize_lang, t

_PAGES: dict[str, tuple[str, str]] = {
    "app.name": ("콜워치", "callwatch"),
    "nav.dashboard": ("대시보드", "Dashboard"),
    "nav.training": ("교육", "Training"),
    "nav.logout": ("로그아웃", "Log out"),
    "nav.language": ("English", "한국어"),
    "login.title": ("로그인", "Log in"),
    "login.token": ("접속 토큰", "Access token"),
    "login.help": (
        "관리자가 'callwatch token create'로 만든 토큰을 붙여 넣으세요.",
        "Paste the token an administrator made with 'callwatch token create'.",
    ),
    "login.submit": ("로그인", "Log in"),
    "login.bad": ("토큰이 맞지 않거나 취소되었습니다.", "That token is unknown or revoked."),
    "role.admin": ("관리자", "administrator"),
    "role.lead": ("부서장", "team lead"),
    "role.trainer": ("교육 담당", "trainer"),
    "role.masked": ("전화번호는 가려서 보여 줍니다.", "Caller numbers are masked."),
    "dash.title": ("이번 주 전화응대", "This week on the phone"),
    "dash.week": ("{week} 주 ({start} ~ {end})", "Week {week} ({start} to {end})"),
    "dash.this_week": ("이번 주", "This week"),
    "dash.trend": ("최근 12주 준수율", "Pass rate over the last 12 weeks"),
    "dash.callbacks": ("회신 대기 중인 전화", "Callbacks waiting"),
    "dash.no_callbacks": ("대기 중인 회신이 없습니다.", "No callback is waiting."),
    "dash.feed": ("최근 위반", "Latest breaches"),
    "dash.feed_live": ("실시간", "live"),
    "dash.no_breaches": ("최근 위반이 없습니다.", "No recent breaches."),
    "dash.open_department": ("부서 화면", "Department page"),
    "time.left": ("{minutes}분 남음", "{minutes} min left"),
    "time.overdue": ("{minutes}분 지남", "{minutes} min overdue"),
    "time.no_deadline": (
        "기한 없음 (약속 시간 기록 필요)",
        "No deadline (record the promised time)",
    ),
    "col.number": ("번호", "Number"),
    "col.missed_at": ("못 받은 시각", "Missed at"),
    "col.due": ("회신 기한", "Due"),
    "col.left": ("남은 시간", "Time left"),
    "col.replay": ("다시 보기", "Replay"),
    "col.step": ("단계", "Step"),
    "col.total": ("합계", "Total"),
    "dept.title": ("{name} 부서", "{name}"),
    "dept.rules": ("기준별 준수", "Rule by rule"),
    "dept.week_pick": ("주 선택", "Week"),
    "dept.previous": ("이전 주", "Previous week"),
    "dept.next": ("다음 주", "Next week"),
    "dept.pdf": ("주간 보고서 PDF", "Weekly report (PDF)"),
    "call.title": ("통화 다시 보기", "Call replay"),
    "call.timeline": ("통화 흐름 (실제 시간 비율)", "Time line (to scale)"),
    "call.play": ("재생", "Play"),
    "call.pause": ("일시정지", "Pause"),
    "call.speed": ("속도", "Speed"),
    "call.ladder": ("SIP 메시지 순서", "SIP ladder"),
    "call.ladder_help": (
        "메시지를 누르면 원문이 펼쳐집니다.",
        "Click a message to see its text.",
    ),
    "call.export": ("교육용 HTML 내보내기", "Export for training (HTML)"),
    "call.verdicts": ("판정", "Verdicts"),
    "call.no_messages": ("저장된 SIP 메시지가 없습니다.", "No SIP messages were kept."),
    "call.started": ("시작", "Started"),
    "call.direction": ("방향", "Direction"),
    "call.caller": ("발신", "Caller"),
    "call.dialled": ("착신", "Dialled"),
    "call.exported": (
        "callwatch에서 내보낸 교육 자료입니다. 전화번호는 가려져 있습니다.",
        "Exported from callwatch for training. Caller numbers are masked.",
    ),
    "mark.offered": ("전화 걸려옴", "Call offered"),
    "mark.first_ring": ("첫 벨", "First ring"),
    "mark.answered": ("응답 {who}", "Answered {who}"),
    "mark.held": ("보류", "Hold"),
    "mark.resumed": ("보류 해제", "Resumed"),
    "mark.transfer": ("돌려주기 시작", "Transfer start"),
    "mark.target_ringing": ("받을 사람 벨", "Target ringing"),
    "mark.connected": ("연결됨", "Connected"),
    "mark.ended": ("끊음: {who}", "Hung up: {who}"),
    "mark.missed": ("못 받음", "Not answered"),
    "limit.answer": (
        "응답 한도 {seconds}초 (벨 {rings}회)",
        "Answer limit {seconds} s (ring {rings})",
    ),
    "limit.transfer": ("연결 한도 {seconds}초", "Transfer limit {seconds} s"),
    "lane.talk": ("통화", "talking"),
    "readout.ring": ("벨 {n}회째", "ring {n}"),
    "train.title": ("교육: 내선별 위반", "Training: breaches per extension"),
    "train.period": (
        "기간: 최근 {weeks}주 ({start} ~ {end})",
        "Last {weeks} weeks ({start} to {end})",
    ),
    "train.steps": ("헌장의 단계", "The charter's steps"),
    "train.no_steps": (
        "이 헌장은 단계별 조치를 정하지 않았습니다.",
        "This charter sets no escalation steps.",
    ),
    "train.caveat": (
        "헌장의 단계는 확인된 민원을 기준으로 합니다. 여기 위반은 신호로 본 사실이므로 "
        "검토 자료로 쓰십시오.",
        "The charter's steps count confirmed complaints; the breaches here are what the "
        "signalling shows — evidence to review, not a confirmed complaint.",
    ),
    "train.reached": ("해당 단계", "Step reached"),
    "train.none": ("이 기간에 위반이 없습니다.", "No breaches in this period."),
    "train.weeks": ("{n}주", "{n} weeks"),
    "error.forbidden": ("이 부서를 볼 권한이 없습니다.", "You may not see this department."),
    "error.not_found": ("찾을 수 없습니다.", "Not found."),
    "direction.inbound": ("걸려온 전화", "inbound"),
    "direction.outbound": ("건 전화", "outbound"),
    "direction.internal": ("내부 통화", "internal"),
    "direction.external": ("외부 간", "transit"),
    # -- probe calls (issue 14): the probe page and the monitoring banner ---------------------
    "probe.title": ("시험 전화", "Probe calls"),
    "probe.link": ("시험 전화 결과 (직원 통계에서 제외)", "Probe calls (not in the staff figures)"),
    "probe.intro": (
        "callwatch가 시민처럼 부서 대표번호로 거는 시험 전화입니다. 받는 사람에게는 시험 "
        "전화라고 안내합니다. 직원 응대 통계에는 넣지 않고 여기에만 보여 줍니다.",
        "Test calls callwatch places to each department's public number, as a citizen would; "
        "the person answering hears that it is a test call. They never count in the staff "
        "figures and are shown here only.",
    ),
    "probe.period": ("최근 {weeks}주 ({start} ~ {end})", "Last {weeks} weeks ({start} to {end})"),
    "probe.placed": ("건 전화", "Calls placed"),
    "probe.answered": ("응답", "Answered"),
    "probe.within": ("벨 {n}회 안에 응답", "Answered within {n} rings"),
    "probe.median_rings": ("들은 벨 (중앙값)", "Rings heard (median)"),
    "probe.confirmed": ("수집 확인", "Seen by the capture"),
    "probe.trend": ("주별 추이: 벨 {n}회 안에 응답한 비율", "By week: answered within {n} rings"),
    "probe.this_week": ("이번 주 ({week})", "This week ({week})"),
    "probe.recent": ("최근 시험 전화", "Latest probe calls"),
    "probe.none": ("이 기간에 시험 전화가 없습니다.", "No probe calls in this period."),
    "probe.when": ("건 시각", "Placed"),
    "probe.rings": ("벨 {n}회 ({seconds}초)", "{n} rings ({seconds} s)"),
    "probe.not_answered": ("받지 않음", "Not answered"),
    "probe.busy": ("통화 중 ({status})", "Busy ({status})"),
    "probe.gave_up": ("받지 않아 끊음", "No answer: hung up"),
    "probe.capture": ("수집 결과", "Capture check"),
    "probe.staff_ring": ("수집으로 잰 벨 시간", "Ringing as captured"),
    "probe.seconds": ("{seconds}초", "{seconds} s"),
    "outcome.ok": ("일치", "agrees"),
    "outcome.mismatch": ("불일치", "differs"),
    "outcome.missing": ("수집 안 됨", "not captured"),
    "monitor.title": ("모니터링 경보", "Monitoring alert"),
    "monitor.missing": (
        "{department}: {when}에 건 시험 전화가 수집되지 않았습니다. HEP 전송이나 수집이 "
        "멈췄을 수 있습니다.",
        "{department}: the probe call placed at {when} was never captured. The HEP feed or "
        "the capture may be down.",
    ),
    "monitor.mismatch": (
        "{department}: {when}에 건 시험 전화가 다르게 수집되었습니다 (시각, 벨 시간 또는 "
        "통화 연결). 아래 수치를 확인하세요.",
        "{department}: the probe call placed at {when} was captured wrong (clock, ring time or "
        "joined legs). Check the figures below.",
    ),
    "monitor.until": (
        "다음 시험 전화가 정상으로 확인되면 사라집니다.",
        "This stays until a later probe call is confirmed.",
    ),
}


def tr(key: str, lang: str = "ko", **params: object) -> str:
    """The page text of ``key`` (or the shared catalogue's) in ``lang``, filled in."""
    code = normalize_lang(lang)
    pair = _PAGES.get(key)
    if pair is None:
        return t(key, code, **params)
    text = pair[0 if code == "ko" else 1]
    return text.format(**params) if params else text


def page_keys() -> tuple[str, ...]:
    """Every page-only key (for tests)."""
    return tuple(_PAGES)
