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
        "관리자가 다음 명령으로 만든 토큰을 붙여 넣으세요:",
        "Paste the token an administrator made with:",
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
    "time.left": ("{left} 남음", "{left} left"),
    "time.overdue": ("{left} 지남", "{left} overdue"),
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
        "콜워치에서 내보낸 교육 자료입니다. 전화번호는 가려져 있습니다.",
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
    "lane.direct": ("직접 수신", "direct"),
    "lane.phone": ("전화기", "phone"),
    "lane.trunk": ("외부 회선", "trunk"),
    "lane.transfer": ("돌려받는 쪽", "target"),
    "lane.consultation": ("상담 통화", "consultation"),
    "readout.seconds": ("{value}초", "{value} s"),
    "call.measured_limit": ("{measured} / 기준 {limit}", "{measured} / limit {limit}"),
    "call.limit_only": ("기준 {limit}", "limit {limit}"),
    "readout.ring": ("벨 {n}회째", "ring {n}"),
    "train.title": ("교육: 내선별 위반", "Training: breaches per extension"),
    "train.period": (
        "기간: 최근 {weeks} ({start} ~ {end})",
        "Last {weeks} ({start} to {end})",
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
    "error.forbidden": ("이 부서를 볼 권한이 없습니다.", "You may not see this department."),
    "error.not_found": ("찾을 수 없습니다.", "Not found."),
    "direction.inbound": ("걸려온 전화", "inbound"),
    "direction.outbound": ("건 전화", "outbound"),
    "direction.internal": ("내부 통화", "internal"),
    "direction.external": ("외부 간", "transit"),
    # the breach and call explorer, reports from the pages (issue 12 items 4 and 6)
    "nav.explore": ("위반·통화 찾기", "Explore"),
    "nav.reports": ("보고서", "Reports"),
    "explore.title": ("위반·통화 찾기", "Breach and call explorer"),
    "explore.zone": ("시각은 {zone} 기준입니다.", "Times are on the {zone} clock."),
    "explore.masked_search": (
        "번호와 Call-ID는 전체를 입력해야 찾습니다.",
        "Numbers and Call-IDs are found by the whole value only.",
    ),
    "explore.kind": ("찾을 대상", "List"),
    "explore.kind.breaches": ("위반", "Breaches"),
    "explore.kind.calls": ("통화", "Calls"),
    "explore.any": ("전체", "Any"),
    "explore.caller_hint": ("예: 010-1234-5678", "e.g. 010-1234-5678"),
    "explore.call_hint": ("Call-ID 전체 또는 일부", "All or part of a Call-ID"),
    "explore.from": ("시작", "From"),
    "explore.to": ("끝", "To"),
    "explore.search": ("찾기", "Search"),
    "explore.sort": ("정렬 기준", "Sort by"),
    "explore.order": ("순서", "Order"),
    "explore.order.desc": ("최근·큰 값 먼저", "Newest or largest first"),
    "explore.order.asc": ("오래된·작은 값 먼저", "Oldest or smallest first"),
    "explore.reset": ("조건 지우기", "Clear"),
    "explore.found": ("{count}건", "{count} found"),
    "explore.export_csv": ("CSV 내려받기", "Download CSV"),
    "explore.export_xlsx": ("엑셀(XLSX) 내려받기", "Download Excel (XLSX)"),
    "explore.none": ("조건에 맞는 항목이 없습니다.", "Nothing matches these filters."),
    "explore.answered_by": ("받은 내선", "Answered by"),
    "explore.breached": ("위반한 기준", "Rules breached"),
    "explore.pages": ("쪽", "Pages"),
    "explore.page": ("{page} / {pages}쪽", "Page {page} of {pages}"),
    "explore.prev": ("이전", "Previous"),
    "explore.next": ("다음", "Next"),
    "explore.bad_time": (
        "{field}: '{value}'은(는) 날짜와 시각이 아닙니다 (예: 2026-11-20 09:00).",
        "{field}: '{value}' is not a date and time (e.g. 2026-11-20 09:00).",
    ),
    "explore.bad_range": ("끝은 시작보다 뒤여야 합니다.", "The end must come after the start."),
    "explore.bad_rule": ("'{value}'은(는) 없는 기준입니다.", "There is no rule '{value}'."),
    "explore.bad_department": (
        "'{value}'은(는) 없는 부서입니다.",
        "There is no department '{value}'.",
    ),
    "explore.bad_caller": (
        "'{value}'은(는) 전화번호가 아닙니다 (숫자와 -만 쓰세요).",
        "'{value}' is not a phone number (digits and - only).",
    ),
    "explore.bad_call": (
        "다시 시작하기 전에 받은 참조입니다. 목록에서 다시 찾으세요.",
        "A reference from before a restart: search the list again.",
    ),
    "explore.bad_form": ("찾기 조건이 맞지 않습니다.", "The search filters cannot be used."),
    "reports.title": ("보고서", "Reports"),
    "reports.scope": ("범위", "Scope"),
    "reports.whole_office": ("기관 전체", "Whole office"),
    "reports.by_week": ("주 단위", "A week"),
    "reports.by_days": ("날짜 지정", "Days"),
    "reports.current": ("진행 중", "in progress"),
    "reports.days_help": (
        "시작일 0시부터 끝날 24시까지, 최대 366일입니다.",
        "From 00:00 of the first day to 24:00 of the last, at most 366 days.",
    ),
    "reports.format": ("형식", "Format"),
    "reports.format.html": ("HTML (메일로 보내기 좋음)", "HTML (good for mail)"),
    "reports.format.pdf": ("PDF", "PDF"),
    "reports.format.csv": ("CSV: 부서·기준별", "CSV: department × rule"),
    "reports.format.csv-extensions": ("CSV: 내선별", "CSV: per extension"),
    "reports.download": ("내려받기", "Download"),
    "reports.help": (
        "끝나지 않은 기간은 보고서에 '진행 중'으로 표시됩니다. 통화 링크는 전체 주소로 들어갑니다.",
        "A period that is not over is marked partial in the report. Links to calls are full "
        "addresses.",
    ),
    "reports.bad_period": (
        "보고서를 만들 수 없는 기간입니다 (날짜 형식, 순서, 최대 366일).",
        "No report for that period (date format, order, at most 366 days).",
    ),
    "reports.bad_format": ("알 수 없는 형식입니다.", "Unknown format."),
    "reports.no_pdf": (
        "PDF를 만들 수 없습니다. HTML로 내려받으세요.",
        "The PDF cannot be made here; download the HTML.",
    ),
    # the admin page of access tokens (web/admin.py, admin_tokens.html)
    "nav.admin": ("토큰 관리", "Tokens"),
    "admin.title": ("접속 토큰 관리", "Access tokens"),
    "admin.help": (
        "토큰마다 역할이 있고, 부서장 토큰에는 부서가 있습니다. 시각은 {zone} 기준입니다.",
        "Each token has a role; a team lead's also has departments. Times are on the site's "
        "clock ({zone}).",
    ),
    "admin.create": ("새 토큰 만들기", "Make a token"),
    "admin.role": ("역할", "Role"),
    "admin.departments": ("부서 (부서장 토큰만)", "Departments (team lead tokens only)"),
    "admin.name": ("이름 또는 용도", "Holder or purpose"),
    "admin.expires": ("만료", "Expires"),
    "admin.expires_never": ("만료 없음", "Never"),
    "admin.expires_days": ("{n}일 후", "In {n} days"),
    "admin.until": ("또는 이 날까지", "Or through this day"),
    "admin.submit": ("만들기", "Make the token"),
    "admin.new_token": (
        "새 토큰입니다. 지금 한 번만 보이니 복사해서 전달하세요.",
        "The new token. It is shown only now: copy it and hand it over.",
    ),
    "admin.list": ("토큰 목록", "Every token"),
    "admin.col.id": ("ID", "ID"),
    "admin.col.departments": ("부서", "Departments"),
    "admin.col.created": ("만든 시각", "Created"),
    "admin.col.last_used": ("마지막 사용", "Last used"),
    "admin.col.state": ("상태", "State"),
    "admin.never_used": ("사용 안 함", "Never used"),
    "admin.state.active": ("사용 중", "Active"),
    "admin.state.revoked": ("취소됨", "Revoked"),
    "admin.state.expired": ("만료됨", "Expired"),
    "admin.revoke": ("취소", "Revoke"),
    "admin.you": ("지금 로그인한 토큰", "yours"),
    "admin.bad_expiry": (
        "만료를 알 수 없습니다. 기간이나 날짜를 고르세요.",
        "That expiry is not understood: pick a span or a date.",
    ),
    "admin.past_expiry": (
        "만료 시각이 이미 지났습니다. 앞으로의 날짜를 고르세요.",
        "That expiry has passed: pick a day to come.",
    ),
    "error.bad_week": (
        "주 표기가 올바르지 않습니다. 2026-W47처럼 연도와 주 번호로 적어 주세요.",
        "That week is not valid: write it as a year and a week number, like 2026-W47.",
    ),
    "error.admin_only": ("관리자만 볼 수 있는 화면입니다.", "Administrators only."),
    "error.cross_site": (
        "다른 사이트에서 보낸 요청은 받지 않습니다.",
        "A request sent from another site is refused.",
    ),
    "admin.bad_lead": (
        "부서장 토큰에는 부서가 하나 이상 필요합니다.",
        "A team lead token needs at least one department.",
    ),
    "admin.bad_request": (
        "토큰을 만들 수 없습니다. 역할과 부서를 확인하세요.",
        "The token cannot be made: check the role and the departments.",
    ),
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
    # the wallboard (web/wall.py)
    "nav.wall": ("상황판", "Wallboard"),
    "wall.title": ("오늘의 전화 상황", "Today on the phone"),
    "wall.connecting": ("연결 중", "connecting"),
    "wall.live": ("실시간", "live"),
    "wall.reconnecting": ("다시 연결 중", "reconnecting"),
    "wall.calls": ("걸려 온 전화", "Calls"),
    "wall.answered": ("벨 {rings}회 전 응답", "Answered before ring\u00a0{rings}"),
    "wall.breaches": ("위반", "Breaches"),
    "wall.callbacks": ("회신 대기", "Callbacks waiting"),
    "wall.ringing": ("지금 울리는 전화", "Ringing now"),
    "wall.none_ringing": ("지금 울리는 전화가 없습니다.", "Nothing is ringing."),
    "wall.ringing_for": ("{left}째 울림", "ringing {left}"),
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
