/* callwatch replay player: moves a cursor over the call's time line.
   Reads the time line from the JSON in #cw-timeline; state is kept on #cw-replay as
   data-state (paused | playing | ended), data-t (seconds of the call), data-speed and
   data-passed (the rules whose limit the cursor has passed). The axis is made of segments,
   each drawn from x left to right and played in "play" seconds at 1x: the call to scale, a
   callback's hours compressed. The player advances a play clock p and maps it to t.
   No network, no libraries. */
(function () {
  "use strict";
  var root = document.getElementById("cw-replay");
  var source = document.getElementById("cw-timeline");
  if (!root || !source) { return; }
  var data = JSON.parse(source.textContent);
  // one drawing per layout (wide, and a phone's narrow one): x below is the wide drawing's,
  // moved onto each drawing's own plot
  var drawings = Array.prototype.map.call(root.querySelectorAll("svg.cw-timeline"), function (svg) {
    return {
      svg: svg,
      cursor: document.getElementById(svg.getAttribute("data-cursor")),
      left: parseFloat(svg.getAttribute("data-plot-left")),
      right: parseFloat(svg.getAttribute("data-plot-right"))
    };
  });
  var play = document.getElementById("cw-play");
  var scrub = document.getElementById("cw-scrub");
  var readout = document.getElementById("cw-readout");
  var geo = data.geometry;
  var segs = data.segments;
  var total = 0;
  segs.forEach(function (s) { s.p0 = total; total += s.play; });
  var rings = data.spans.filter(function (s) { return s.kind === "ring"; });
  var p = 0;
  var t = 0;
  var speed = 1;
  var playing = false;
  var last = null;

  function segOfT(v) {
    var seg = segs[0];
    segs.forEach(function (s) { if (v >= s.start) { seg = s; } });
    return seg;
  }

  function x(v) {
    var s = segOfT(v);
    var w = (s.end - s.start) || 1;
    var c = Math.max(s.start, Math.min(s.end, v));
    return s.left + (s.right - s.left) * (c - s.start) / w;
  }

  function tOfP(q) {
    var s = segs[0];
    segs.forEach(function (g) { if (q >= g.p0) { s = g; } });
    var f = s.play ? Math.min(1, (q - s.p0) / s.play) : 1;
    return s.start + (s.end - s.start) * f;
  }

  function pOfT(v) {
    var s = segOfT(v);
    var w = (s.end - s.start) || 1;
    return s.p0 + s.play * Math.max(0, Math.min(1, (v - s.start) / w));
  }

  function tOfX(px) {
    var s = segs[0];
    segs.forEach(function (g) { if (px >= g.left) { s = g; } });
    var f = Math.max(0, Math.min(1, (px - s.left) / ((s.right - s.left) || 1)));
    return s.start + (s.end - s.start) * f;
  }

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

  function label(name, values) {
    var text = readout.getAttribute("data-" + name + "-label");
    Object.keys(values).forEach(function (k) { text = text.replace("{" + k + "}", values[k]); });
    return text;
  }

  function timeText(v) {
    if (v < 60) { return label("seconds", { value: v.toFixed(2) }); }
    var m = Math.floor(v / 60);
    if (m < 60) { return label("minutes", { value: m }); }
    return label("hours", { hours: Math.floor(m / 60), minutes: m % 60 });
  }

  function toDrawing(d, wx) { return d.left + (wx - geo.left) * (d.right - d.left) / (geo.right - geo.left); }
  function fromDrawing(d, px) { return geo.left + (px - d.left) * (geo.right - geo.left) / (d.right - d.left); }

  function show() {
    var wx = x(t);
    drawings.forEach(function (d) {
      if (!d.cursor) { return; }
      var cx = toDrawing(d, wx).toFixed(2);
      d.cursor.setAttribute("x1", cx);
      d.cursor.setAttribute("x2", cx);
    });
    root.setAttribute("data-t", t.toFixed(3));
    scrub.value = p;
    var passed = [];
    data.limits.forEach(function (l) { if (t >= l.at && passed.indexOf(l.rule) < 0) { passed.push(l.rule); } });
    root.setAttribute("data-passed", passed.join(" "));
    toggleAll(".cw-timeline .limit", t);
    toggleAll(".cw-timeline .mark", t);
    toggleAll(".cw-timeline .interval", t);
    toggleAll(".ladder .msg", t);
    var text = timeText(t);
    var n = ringAt(t);
    if (n) { text += " · " + label("ring", { n: n }); }
    readout.textContent = text;
  }

  function frame(now) {
    if (!playing) { return; }
    if (last !== null) { p = Math.min(total, p + (now - last) / 1000 * speed); }
    last = now;
    t = p >= total ? data.duration : tOfP(p);
    show();
    if (p >= total) {
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
      if (p >= total) { p = 0; t = 0; }
      window.requestAnimationFrame(frame);
    }
  }

  function seekP(q) {
    p = Math.max(0, Math.min(total, q));
    t = tOfP(p);
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
  scrub.addEventListener("input", function () { seekP(parseFloat(scrub.value)); });
  drawings.forEach(function (d) {
    d.svg.addEventListener("click", function (ev) {
      var box = d.svg.getBoundingClientRect();
      var px = (ev.clientX - box.left) * d.svg.viewBox.baseVal.width / box.width;
      if (px >= d.left) { seekP(pOfT(tOfX(fromDrawing(d, px)))); }
    });
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === " " && ev.target === document.body) { ev.preventDefault(); setPlaying(!playing); }
  });
  show();
})();
