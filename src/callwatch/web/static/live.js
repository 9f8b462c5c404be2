/* The dashboard's live breach feed: listens to /live (the API's Server-Sent Events, with the
   session cookie) and puts each breach at the top of the list. Without it the list stays
   as the server rendered it. */
(function () {
  "use strict";
  var list = document.getElementById("feed-list");
  var state = document.getElementById("live-state");
  if (!list || !window.EventSource) { return; }
  var source = new EventSource("/live");
  source.addEventListener("open", function () { state.setAttribute("data-state", "live"); state.textContent = "●"; });
  source.addEventListener("error", function () { state.setAttribute("data-state", "static"); state.textContent = ""; source.close(); });
  source.addEventListener("breach", function (ev) {
    var item;
    try { item = JSON.parse(ev.data); } catch (e) { return; }
    var call = item.call || item.call_id;
    if (!call) { return; }
    var li = document.createElement("li");
    li.className = "breach live";
    var a = document.createElement("a");
    a.className = "breach-link";
    a.href = "/calls/" + encodeURIComponent(call);
    a.textContent = [item.rule, item.department, item.caller].filter(Boolean).join(" · ");
    li.appendChild(a);
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 30) { list.removeChild(list.lastChild); }
  });
})();
