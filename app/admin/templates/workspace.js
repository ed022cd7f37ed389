// The workspace's progressive enhancement: every link and form works without this script.
// It adds local times, keyboard shortcuts, the composer's height, and presence heartbeats.
"use strict";
(function () {
  // Times: the page says how long ago in words and UTC on hover; show the browser's own zone.
  function localTimes() {
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var moment = new Date(el.getAttribute("datetime"));
      if (!isNaN(moment.getTime())) {
        el.title = moment.toLocaleString();
      }
    });
  }

  // The composer grows with its text where CSS field-sizing is not supported.
  function sizeComposer() {
    var box = document.getElementById("reply-text");
    if (!box || (window.CSS && CSS.supports && CSS.supports("field-sizing", "content"))) {
      return;
    }
    var fit = function () {
      box.rows = Math.min(40, Math.max(6, box.value.split("\n").length + 2));
    };
    box.addEventListener("input", fit);
    fit();
  }

  var composer = document.getElementById("composer");
  var original = composer ? composer.querySelector("textarea").value : "";
  function editing() {
    return !!composer && composer.querySelector("textarea").value !== original;
  }

  // Presence: "X is viewing/editing" for colleagues, refreshed by a heartbeat.
  function heartbeat() {
    var marker = document.querySelector("[data-thread]");
    if (!marker || !window.fetch) {
      return;
    }
    var id = marker.getAttribute("data-thread");
    var every = Number(marker.getAttribute("data-heartbeat") || "20") * 1000;
    var beat = function () {
      fetch("/admin/api/messages/" + id + "/presence", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": marker.getAttribute("data-csrf") },
        body: JSON.stringify({ kind: editing() ? "editing" : "viewing" }),
      })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(showPresence)
        .catch(function () {});
    };
    beat();
    window.setInterval(beat, every);
  }

  function showPresence(others) {
    var banner = document.querySelector(".presence-banner");
    if (!others.length) {
      if (banner) { banner.remove(); }
      return;
    }
    if (!banner) {
      banner = document.createElement("p");
      banner.className = "presence-banner";
      banner.setAttribute("role", "status");
      var head = document.querySelector(".thread-head h1");
      if (!head) { return; }
      head.insertAdjacentElement("afterend", banner);
    }
    banner.textContent = others.map(function (p) {
      return p.staff_name + " is " + p.kind + " this email";
    }).join("; ");
  }

  // Keyboard: j/k move, Enter opens, a approves, e/r edit, c close, ? help.
  function toggleHelp() {
    var help = document.getElementById("keys-help");
    if (!help) { return; }
    var open = !help.open;
    help.open = open;
    help.classList.toggle("open-overlay", open);
  }

  var rows = Array.prototype.slice.call(document.querySelectorAll("[data-keyboard-list] tbody tr"));
  var selected = -1;
  function select(index) {
    if (!rows.length) { return; }
    selected = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach(function (row, i) { row.classList.toggle("selected", i === selected); });
    rows[selected].scrollIntoView({ block: "nearest" });
  }

  function follow(selector) {
    var link = document.querySelector(selector);
    if (link) { window.location.href = link.href; }
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var target = event.target;
    var typing = target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT");
    if (typing) {
      if (event.key === "Escape") { target.blur(); }
      return;
    }
    var key = event.key;
    if (key === "?") {
      toggleHelp();
    } else if (rows.length && (key === "j" || key === "k")) {
      select(selected + (key === "j" ? 1 : -1));
    } else if (rows.length && key === "Enter" && selected >= 0) {
      var link = rows[selected].querySelector("td.subject a");
      if (link) { window.location.href = link.href; }
    } else if (key === "j") {
      follow("a[rel=next][data-key=j]");
    } else if (key === "k") {
      follow("a[rel=prev][data-key=k]");
    } else if ((key === "e" || key === "r") && composer) {
      var box = composer.querySelector("textarea");
      box.focus();
      box.setSelectionRange(box.value.length, box.value.length);
    } else if (key === "a" && composer) {
      var send = composer.querySelector("button[value=send]");
      if (send) { composer.requestSubmit ? composer.requestSubmit(send) : send.click(); }
    } else if (key === "c") {
      var reason = document.getElementById("close-reason");
      if (reason) { reason.focus(); }
    } else {
      return;
    }
    event.preventDefault();
  }

  // Loaded with `defer`: the page is parsed when this runs.
  localTimes();
  sizeComposer();
  heartbeat();
  document.addEventListener("keydown", onKey);
})();
