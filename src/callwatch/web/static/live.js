/* The dashboard's live breach feed: listens to /wall/live (the wallboard's stream, with the
   session cookie; each breach rendered by the server for this viewer, as the list's own
   items are) and puts each breach at the top of the list. When the stream drops it
   reconnects with growing delays and asks for what it missed. Without it the list stays as
   the server rendered it. */
(function () {
  "use strict";
  var list = document.getElementById("feed-list");
  var state = document.getElementById("live-state");
  if (!list || !window.EventSource) { return; }
  var lang = document.documentElement.getAttribute("lang") || "ko";
  var lastId = "";
  var backoff = 1000;
  function connect() {
    var url = "/wall/live?lang=" + encodeURIComponent(lang) + (lastId ? "&after=" + encodeURIComponent(lastId) : "");
    var source = new EventSource(url);
    source.addEventListener("open", function () { backoff = 1000; state.setAttribute("data-state", "live"); state.textContent = "●"; });
    source.addEventListener("error", function () {
      source.close();
      state.setAttribute("data-state", "static");
      state.textContent = "";
      window.setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 30000);
    });
    source.addEventListener("reset", function () { lastId = ""; });
    source.addEventListener("item", function (ev) {
      if (ev.lastEventId === lastId) { return; }
      lastId = ev.lastEventId;
      var item;
      try { item = JSON.parse(ev.data); } catch (e) { return; }
      if (item.kind !== "breach" || !item.html) { return; }
      var t = document.createElement("template");
      t.innerHTML = item.html;
      var li = t.content.firstElementChild;
      if (!li) { return; }
      li.classList.add("live");
      list.insertBefore(li, list.firstChild);
      while (list.children.length > 30) { list.removeChild(list.lastChild); }
    });
  }
  connect();
})();
