/* The live side of the wallboard and the dashboard (web/wall.py, web/dashboard.py): one
   script for both, so their rows tick and update the same way. Listens to /wall/live
   (Server-Sent Events with the session cookie): every item comes rendered by the server for
   this viewer (words, site clock, masking), with what to count. Callback countdowns and
   ringing times tick every second from the server's clock (the offset between it and this
   browser's clock, updated by every message) and a countdown past its deadline turns
   overdue. Each part is optional: the feed (#feed-list), callbacks (#callbacks-body), calls
   ringing (#ringing-list), figures (.figure). When the stream drops it reconnects with
   growing delays and asks for what it missed (?after=<last id>); a "reset" (nothing to catch
   up from) reloads the page, as does the end of the site's day where the page gives it
   (data-day-end). */
(function () {
  "use strict";
  var root = document.querySelector("[data-live]");
  if (!root || !window.EventSource) { return; }
  var words = JSON.parse(root.getAttribute("data-words") || "{}");
  var state = document.getElementById("live-state");
  var feed = document.getElementById("feed-list");
  var ringing = document.getElementById("ringing-list");
  var callbacks = document.getElementById("callbacks-body");
  var lastId = root.getAttribute("data-live-from") || "";
  var dayEnd = Number(root.getAttribute("data-day-end") || 0) / 1000;
  var offset = Number(root.getAttribute("data-now")) / 1000 - Date.now();
  var seen = [];
  var backoff = 1000;
  var source = null;

  function serverNow() { return Date.now() + offset; }
  function fill(text, key, value) { return text.split("{" + key + "}").join(value); }
  function span(seconds) {
    var s = Math.round(Math.abs(seconds));
    if (s < 60) { return fill(words.s, "value", String(s)); }
    var m = Math.round(s / 60);
    if (m < 60) { return fill(words.m, "value", String(m)); }
    var h = Math.floor(m / 60), rest = m % 60;
    if (!rest) { return fill(words.h, "value", String(h)); }
    return fill(fill(words.hm, "hours", String(h)), "minutes", String(rest));
  }
  function fragment(html) {
    var t = document.createElement("template");
    t.innerHTML = html;
    return t.content;
  }
  function setState(name, text) {
    if (!state) { return; }
    state.setAttribute("data-state", name);
    state.textContent = text;
  }

  function tick() {
    var now = serverNow();
    if (dayEnd && now >= dayEnd) { window.location.reload(); return; }
    var cells = document.querySelectorAll(".countdown[data-due]");
    for (var i = 0; i < cells.length; i++) {
      var due = cells[i].getAttribute("data-due");
      if (!due) { continue; }
      var left = (Number(due) / 1000 - now) / 1000;
      var overdue = left < 0;
      cells[i].textContent = fill(overdue ? words.overdue : words.left, "left", span(left));
      cells[i].setAttribute("data-state", overdue ? "overdue" : "waiting");
      cells[i].parentNode.classList.toggle("late", overdue);
    }
    var empties = document.querySelectorAll("[data-empty-for]");
    for (var e = 0; e < empties.length; e++) {
      var list = document.getElementById(empties[e].getAttribute("data-empty-for"));
      var filled = !!(list && list.firstElementChild);
      empties[e].hidden = filled;
      var table = list && list.closest("table");
      if (table) { table.hidden = !filled; }
    }
    var rows = ringing ? ringing.querySelectorAll("li[data-since]") : [];
    for (var j = 0; j < rows.length; j++) {
      var since = Number(rows[j].getAttribute("data-since")) / 1000;
      var out = rows[j].querySelector(".ringing-for");
      if (out) { out.textContent = fill(words.ringing, "left", span(Math.max(now - since, 0) / 1000)); }
    }
  }

  function add(department, tally) {
    var card = document.querySelector('.figure[data-department="' + CSS.escape(department || "") + '"]');
    if (!card) { return; }
    ["calls", "answered", "judged", "breaches"].forEach(function (key) {
      var cell = card.querySelector('[data-figure="' + key + '"]');
      if (cell && tally[key]) { cell.textContent = String(Number(cell.textContent) + tally[key]); }
    });
  }
  function countCallbacks() {
    var cards = document.querySelectorAll(".figure[data-department]");
    for (var i = 0; i < cards.length; i++) {
      var cell = cards[i].querySelector('[data-figure="callbacks"]');
      if (!cell || !callbacks) { continue; }
      var name = cards[i].getAttribute("data-department");
      cell.textContent = String(callbacks.querySelectorAll('tr[data-department="' + CSS.escape(name) + '"]').length);
    }
  }

  function apply(item) {
    if (item.kind === "breach" && feed) {
      var li = fragment(item.html).firstElementChild;
      if (li) {
        li.classList.add("live");
        feed.insertBefore(li, feed.firstChild);
        while (feed.children.length > 30) { feed.removeChild(feed.lastChild); }
      }
    } else if (item.kind === "ringing" && ringing) {
      var old = ringing.querySelectorAll('li[data-department="' + CSS.escape(item.department) + '"]');
      for (var i = 0; i < old.length; i++) { ringing.removeChild(old[i]); }
      ringing.appendChild(fragment(item.html));
      var all = Array.prototype.slice.call(ringing.children);
      all.sort(function (a, b) { return Number(a.getAttribute("data-since")) - Number(b.getAttribute("data-since")); });
      all.forEach(function (row) { ringing.appendChild(row); });
    } else if (item.kind === "callback" && callbacks) {
      var rows = callbacks.querySelectorAll("tr[data-call]");
      for (var j = 0; j < rows.length; j++) {
        if (rows[j].getAttribute("data-call") === item.id) { callbacks.removeChild(rows[j]); }
      }
      if (item.html) {
        var row = fragment("<table><tbody>" + item.html + "</tbody></table>").querySelector("tr");
        var due = item.due_us === null ? Infinity : item.due_us;
        var before = null;
        var others = callbacks.querySelectorAll("tr[data-call]");
        for (var k = 0; k < others.length; k++) {
          var d = others[k].querySelector(".countdown").getAttribute("data-due");
          if ((d === "" ? Infinity : Number(d)) > due) { before = others[k]; break; }
        }
        callbacks.insertBefore(row, before);
      }
      countCallbacks();
    }
    if (item.tally) { add(item.tally.department, item.tally); }
    tick();
  }

  function connect() {
    var url = root.getAttribute("data-live") + "?lang=" + encodeURIComponent(root.getAttribute("data-lang") || "ko") +
      "&after=" + encodeURIComponent(lastId);
    source = new EventSource(url);
    source.addEventListener("open", function () { backoff = 1000; setState("live", words.live || "●"); });
    source.addEventListener("error", function () {
      source.close();
      setState("reconnecting", words.reconnecting);
      window.setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 30000);
    });
    source.addEventListener("reset", function () { source.close(); window.location.reload(); });
    source.addEventListener("clock", function (ev) {
      try { offset = JSON.parse(ev.data).now / 1000 - Date.now(); } catch (e) { /* keep the last offset */ }
    });
    source.addEventListener("item", function (ev) {
      if (seen.indexOf(ev.lastEventId) >= 0) { return; }
      seen.push(ev.lastEventId);
      if (seen.length > 500) { seen.shift(); }
      lastId = ev.lastEventId;
      root.setAttribute("data-live-at", lastId);
      var item;
      try { item = JSON.parse(ev.data); } catch (e) { return; }
      if (item.now) { offset = item.now / 1000 - Date.now(); }
      apply(item);
    });
  }

  connect();
  tick();
  window.setInterval(tick, 1000);
})();
