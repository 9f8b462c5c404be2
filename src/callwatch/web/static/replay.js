/* callwatch replay player: moves a cursor over the call's time line.
   Reads the time line from the JSON in #cw-timeline; state is kept on #cw-replay as
   data-state (paused | playing | ended), data-t (seconds), data-speed and data-passed
   (the rules whose limit the cursor has passed). No network, no libraries. */
(function () {
  "use strict";
  var root = document.getElementById("cw-replay");
  var source = document.getElementById("cw-timeline");
  if (!root || !source) { return; }
  var data = JSON.parse(source.textContent);
  var cursor = document.getElementById("cw-cursor");
  var play = document.getElementById("cw-play");
  var scrub = document.getElementById("cw-scrub");
  var readout = document.getElementById("cw-readout");
  var geo = data.geometry;
  var rings = data.spans.filter(function (s) { return s.kind === "ring"; });
  var t = 0;
  var speed = 1;
  var playing = false;
  var last = null;

  function x(v) { return geo.left + (geo.right - geo.left) * v / data.duration; }

  function ringAt(v) {
    var n = 0;
    rings.forEach(function (s) { if (s.start <= v && v < s.end && s.ring > n) { n = s.ring; } });
    return n;
  }

  function toggleAll(selector, v) {
    var items = document.querySelectorAll(selector);
    for (var i = 0; i < items.length; i++) {
      items[i].classList.toggle("passed", v >= parseFloat(items[i].getAttribute("data-at")));
    }
  }

  function show() {
    var cx = x(t).toFixed(2);
    cursor.setAttribute("x1", cx);
    cursor.setAttribute("x2", cx);
    root.setAttribute("data-t", t.toFixed(3));
    scrub.value = t;
    var passed = [];
    data.limits.forEach(function (l) { if (t >= l.at && passed.indexOf(l.rule) < 0) { passed.push(l.rule); } });
    root.setAttribute("data-passed", passed.join(" "));
    toggleAll(".cw-timeline .limit", t);
    toggleAll(".cw-timeline .mark", t);
    toggleAll(".ladder .msg", t);
    var text = readout.getAttribute("data-seconds-label").replace("{value}", t.toFixed(2));
    var n = ringAt(t);
    if (n) { text += " · " + readout.getAttribute("data-ring-label").replace("{n}", n); }
    readout.textContent = text;
  }

  function frame(now) {
    if (!playing) { return; }
    if (last !== null) { t = Math.min(data.duration, t + (now - last) / 1000 * speed); }
    last = now;
    show();
    if (t >= data.duration) {
      setPlaying(false);
      root.setAttribute("data-state", "ended");
      return;
    }
    window.requestAnimationFrame(frame);
  }

  function setPlaying(on) {
    playing = on;
    last = null;
    root.setAttribute("data-state", on ? "playing" : "paused");
    play.textContent = on ? play.getAttribute("data-pause") : play.getAttribute("data-play");
    if (on) {
      if (t >= data.duration) { t = 0; }
      window.requestAnimationFrame(frame);
    }
  }

  function seek(v) {
    t = Math.max(0, Math.min(data.duration, v));
    show();
  }

  play.addEventListener("click", function () { setPlaying(!playing); });
  var speeds = root.querySelectorAll("button.speed");
  for (var i = 0; i < speeds.length; i++) {
    speeds[i].addEventListener("click", function (ev) {
      speed = parseFloat(ev.currentTarget.getAttribute("data-speed"));
      root.setAttribute("data-speed", String(speed));
      for (var j = 0; j < speeds.length; j++) { speeds[j].classList.toggle("on", speeds[j] === ev.currentTarget); }
    });
  }
  scrub.addEventListener("input", function () { seek(parseFloat(scrub.value)); });
  var svg = root.querySelector("svg.cw-timeline");
  if (svg) {
    svg.addEventListener("click", function (ev) {
      var box = svg.getBoundingClientRect();
      var px = (ev.clientX - box.left) * geo.width / box.width;
      if (px >= geo.left) { seek((px - geo.left) / (geo.right - geo.left) * data.duration); }
    });
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.key === " " && ev.target === document.body) { ev.preventDefault(); setPlaying(!playing); }
  });
  show();
})();
