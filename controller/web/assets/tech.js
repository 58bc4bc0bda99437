/* tech.js — the technician's phone view (/tech), working offline.
 *
 * The job page's forms (form.op-status, .op-note, .op-check, .op-parts,
 * .op-photo, .op-signature) post one operation each to /tech/jobs/{id}/op
 * without JavaScript. Here they are taken over: each submit becomes an
 * operation {client_id, job, op, ...} appended to a queue kept in
 * localStorage ("mast-tech-queue"), shown on the page at once (marked as
 * not yet sent), and sent to /tech/sync whenever the phone is online (on
 * load, on the "online" event and every 30 s). The server answers each
 * operation applied, conflict or refused; the last two are kept in
 * "mast-tech-problems" and listed in #sync-status until dismissed. An
 * operation is sent again until it has an answer (the server applies an
 * id only once), so nothing is lost when the network drops mid-way.
 *
 * The service worker (/tech/sw.js) keeps today's pages for offline use;
 * on /tech this asks it to fetch every job page of the route.
 *
 * Works under the CSP (no inline script or style); caller data is only
 * ever put in the page with textContent.
 */
(function () {
  "use strict";

  var QKEY = "mast-tech-queue";
  var PKEY = "mast-tech-problems";
  var BATCH = 50;
  /* base64 characters of one photo: the sync form must stay under 1 MB. */
  var MAX_PHOTO_B64 = 700000;
  var FORMS = "form.op-status, form.op-note, form.op-check, form.op-parts, form.op-photo, form.op-signature";

  var app = document.getElementById("tech-app");
  if (!app) return;
  app.classList.add("js");

  var csrf = app.getAttribute("data-csrf") || "";
  var page = app.getAttribute("data-page") || "";
  var jobId = parseInt(app.getAttribute("data-job") || "", 10);
  if (isNaN(jobId)) jobId = null;

  var flushing = false;
  var needLogin = false;
  var marks = {}; // client_id -> [function (answer)] updating what the page showed
  var lastStatusId = null;
  var lastSubmitter = null;
  var pad = null;

  /* ------------------------------------------------------------ helpers */

  function each(list, fn) {
    Array.prototype.forEach.call(list, fn);
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function clear(node) {
    while (node && node.firstChild) node.removeChild(node.firstChild);
  }

  function warn(what, err) {
    if (window.console && console.warn) console.warn("tech.js: " + what + ":", err);
  }

  function load(key) {
    try {
      var v = JSON.parse(localStorage.getItem(key) || "[]");
      return Array.isArray(v) ? v : [];
    } catch (e) {
      return [];
    }
  }

  function save(key, v) {
    try {
      localStorage.setItem(key, JSON.stringify(v));
      return true;
    } catch (e) {
      return false;
    }
  }

  function storageWorks() {
    try {
      localStorage.setItem("mast-tech-probe", "1");
      localStorage.removeItem("mast-tech-probe");
      return true;
    } catch (e) {
      return false;
    }
  }

  function randomId() {
    var b = new Uint8Array(16);
    var c = window.crypto || window.msCrypto;
    if (c && c.getRandomValues) {
      c.getRandomValues(b);
    } else {
      for (var j = 0; j < b.length; j++) b[j] = Math.floor(Math.random() * 256);
    }
    var s = "";
    for (var i = 0; i < b.length; i++) s += ("0" + b[i].toString(16)).slice(-2);
    return s;
  }

  function changes(n) {
    return n === 1 ? "1 change" : n + " changes";
  }

  function toneOf(status) {
    switch (status) {
      case "done": return "up";
      case "needs-revisit": case "cancelled": return "down";
      case "en-route": case "on-site": return "degraded";
      case "scheduled": return "unknown";
      default: return "neutral";
    }
  }

  /* What an operation is, in a few words ("on-site", "note", "photo"). */
  function describe(op) {
    switch (op.op) {
      case "status": return op.to;
      case "note": return "note \u201c" + (op.body.length > 40 ? op.body.slice(0, 40) + "\u2026" : op.body) + "\u201d";
      case "check": return "checklist item " + (op.position + 1) + (op.done ? " ticked" : " unticked");
      case "parts": return op.codes.length === 1 ? "1 part (" + op.codes[0] + ")" : op.codes.length + " parts";
      case "photo": return "photo";
      case "signature": return "signature by " + op.signed_by;
      default: return op.op;
    }
  }

  /* ------------------------------------------------------- sync status */

  function render() {
    var q = load(QKEY);
    var n = q.length;
    var box = document.getElementById("sync-status");
    if (box) {
      var line = box.querySelector(".sync-line");
      if (!line) line = box.insertBefore(el("p", "sync-line"), box.firstChild);
      clear(line);
      var text;
      if (!n) text = "All changes saved";
      else if (!navigator.onLine) text = "Offline: " + changes(n) + " waiting";
      else if (needLogin) text = "Signed out: " + changes(n) + " waiting. ";
      else if (flushing) text = "Sending " + changes(n) + "\u2026";
      else text = changes(n) + " waiting to be sent";
      line.appendChild(document.createTextNode(text));
      if (n && needLogin && navigator.onLine) {
        var a = el("a", "sign-in", "Sign in again to send them");
        a.href = "/login";
        line.appendChild(a);
      }
      box.className = "sync-status " + (!n ? "sync-saved" : navigator.onLine ? "sync-waiting" : "sync-offline");

      var list = box.querySelector(".sync-problems");
      if (!list) list = box.appendChild(el("ul", "sync-problems"));
      clear(list);
      load(PKEY).forEach(function (p) {
        var li = el("li", "sync-problem " + (p.outcome === "conflict" ? "conflict" : "refused"));
        var link = el("a", null, "Job #" + p.job);
        link.href = "/tech/jobs/" + encodeURIComponent(p.job);
        li.appendChild(link);
        var what = p.what ? " (" + p.what + ")" : "";
        var kind = p.outcome === "conflict" ? ": conflict" : ": not saved";
        li.appendChild(document.createTextNode(what + kind + ": " + p.detail + " "));
        var b = el("button", "dismiss", "Dismiss");
        b.type = "button";
        b.setAttribute("data-id", p.client_id);
        li.appendChild(b);
        list.appendChild(li);
      });
    }
    each(document.querySelectorAll(".job-card[data-job]"), function (card) {
      var id = parseInt(card.getAttribute("data-job"), 10);
      var k = q.filter(function (op) { return op.job === id; }).length;
      var badge = card.querySelector(".card-pending");
      if (badge) {
        badge.textContent = k ? k + " waiting" : "";
        badge.classList.toggle("has-pending", k > 0);
      }
    });
    var pending = document.getElementById("pending");
    var pendingList = document.getElementById("pending-list");
    if (pending && pendingList) pending.hidden = !pendingList.firstChild;
  }

  function dismiss(id) {
    save(PKEY, load(PKEY).filter(function (p) { return p.client_id !== id; }));
    render();
  }

  /* ------------------------------------------ what the page shows early */

  function track(id, fn) {
    (marks[id] = marks[id] || []).push(fn);
  }

  function resolved(id, answer) {
    (marks[id] || []).forEach(function (fn) {
      try {
        fn(answer);
      } catch (e) {
        warn("update", e);
      }
    });
    delete marks[id];
  }

  function showStatus(to, state) {
    var s = document.getElementById("job-status");
    if (!s) return;
    var suffix = "";
    if (state === "pending") suffix = navigator.onLine ? " (sending\u2026)" : " (not yet sent)";
    if (state === "failed") suffix = " (not saved)";
    s.textContent = to + suffix;
    s.className = "badge " + toneOf(to) + (state === "pending" ? " pending" : state === "failed" ? " failed" : "");
    if (state !== "failed") {
      app.setAttribute("data-status", to);
      statusButtons(to);
    }
  }

  /* Shows the buttons of the statuses that may follow `status`. */
  function statusButtons(status) {
    var any = false;
    each(document.querySelectorAll("form.op-status button.status-button"), function (b) {
      var from = (b.getAttribute("data-from") || "").split(" ");
      var ok = from.indexOf(status) >= 0;
      b.hidden = !ok;
      if (ok) any = true;
    });
    var none = document.querySelector("form.op-status .status-none");
    if (none) none.hidden = any;
  }

  function pendingItem(op) {
    var list = document.getElementById("pending-list");
    if (!list) return;
    var li = el("li", "pending", "pending: " + describe(op));
    list.appendChild(li);
    track(op.client_id, function (a) {
      if (a.outcome === "applied") {
        if (li.parentNode) li.parentNode.removeChild(li);
      } else {
        li.className = "failed";
        li.textContent = describe(op) + ": not saved: " + a.detail;
      }
      render();
    });
  }

  /* The page shows `op` before the server has it. */
  function optimistic(op) {
    if (jobId === null || op.job !== jobId) return;
    pendingItem(op);
    if (op.op === "status") {
      lastStatusId = op.client_id;
      showStatus(op.to, "pending");
      track(op.client_id, function (a) {
        if (lastStatusId === op.client_id) showStatus(op.to, a.outcome === "applied" ? "saved" : "failed");
      });
    } else if (op.op === "note") {
      var notes = document.getElementById("job-notes");
      if (!notes) return;
      var li = el("li", "pending");
      li.appendChild(el("p", "pre", op.body));
      var meta = el("p", "muted", "not yet sent");
      li.appendChild(meta);
      notes.appendChild(li);
      var empty = document.querySelector(".no-notes");
      if (empty) empty.hidden = true;
      track(op.client_id, function (a) {
        li.className = a.outcome === "applied" ? "" : "failed";
        meta.textContent = a.outcome === "applied" ? "just now" : "not saved: " + a.detail;
      });
    } else if (op.op === "check") {
      var box = document.querySelector('form.op-check input[name=done][data-position="' + op.position + '"]');
      if (!box) return;
      box.checked = !!op.done;
      var item = box.closest ? box.closest("form") : box.parentNode;
      item.classList.add("pending");
      track(op.client_id, function (a) {
        item.classList.remove("pending");
        if (a.outcome !== "applied") item.classList.add("failed");
      });
    } else if (op.op === "photo") {
      var photos = document.getElementById("job-photos");
      if (!photos) return;
      var img = el("img", "thumb pending");
      img.alt = "New photo (not yet sent)";
      img.src = "data:image/jpeg;base64," + op.data;
      photos.appendChild(img);
      var none = document.querySelector(".no-photos");
      if (none) none.hidden = true;
      track(op.client_id, function (a) {
        img.className = a.outcome === "applied" ? "thumb" : "thumb failed";
        img.alt = a.outcome === "applied" ? "New photo" : "Photo not saved";
      });
    } else if (op.op === "signature") {
      var sig = document.getElementById("job-signature");
      if (!sig) return;
      clear(sig);
      var fig = el("figure", "signature pending");
      var pic = el("img", "signature-img");
      pic.alt = "The customer's signature";
      pic.src = op.png;
      var cap = el("figcaption", null, "Signed by " + op.signed_by + " (not yet sent)");
      fig.appendChild(pic);
      fig.appendChild(cap);
      sig.appendChild(fig);
      track(op.client_id, function (a) {
        fig.className = a.outcome === "applied" ? "signature" : "signature failed";
        cap.textContent = "Signed by " + op.signed_by + (a.outcome === "applied" ? "" : " (not saved: " + a.detail + ")");
      });
    }
  }

  /* ---------------------------------------------------------- sending */

  function send(batch) {
    var fd = new FormData();
    fd.append("csrf", csrf);
    fd.append("ops", JSON.stringify(batch));
    return fetch("/tech/sync", {
      method: "POST",
      body: fd,
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    })
      .then(function (res) {
        if (res.redirected && /\/login/.test(res.url)) return { kind: "login" };
        if (res.status === 413) return { kind: "too-large" };
        var json = (res.headers.get("content-type") || "").indexOf("application/json") >= 0;
        if (!json) return { kind: res.status === 403 ? "csrf" : res.status === 401 ? "login" : "later" };
        return res.json().then(function (body) {
          if (res.ok && body && Array.isArray(body.answers)) return { kind: "answers", answers: body.answers };
          var msg = (body && body.error && body.error.message) || "refused by the server";
          if (res.status === 400) return { kind: "bad", message: msg };
          return { kind: "later" };
        });
      })
      .catch(function () {
        return { kind: "later" };
      });
  }

  /* A fresh CSRF token (the session changed since this page was saved). */
  function refreshCsrf() {
    return fetch("/tech", { credentials: "same-origin", cache: "no-store" })
      .then(function (res) {
        if (!res.ok || res.redirected) return false;
        return res.text().then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("tech-app");
          var token = fresh && fresh.getAttribute("data-csrf");
          if (!token) return false;
          csrf = token;
          app.setAttribute("data-csrf", token);
          each(document.querySelectorAll("input[name=csrf]"), function (i) { i.value = token; });
          return true;
        });
      })
      .catch(function () {
        return false;
      });
  }

  /* Takes the answered operations off the queue; keeps conflicts and
   * refusals as problems. Returns how many were answered. */
  function settle(answers, touched) {
    var byId = {};
    answers.forEach(function (a) {
      if (a && typeof a.client_id === "string") byId[a.client_id] = a;
    });
    var problems = load(PKEY);
    var done = 0;
    var q = load(QKEY).filter(function (op) {
      var a = byId[op.client_id];
      if (!a) return true;
      done++;
      touched[op.job] = true;
      if (a.outcome !== "applied") {
        problems.push({
          client_id: op.client_id,
          job: op.job,
          outcome: a.outcome,
          detail: String(a.detail || ""),
          what: describe(op)
        });
      }
      return false;
    });
    save(QKEY, q);
    save(PKEY, problems.slice(-50));
    answers.forEach(function (a) {
      if (byId[a.client_id] === a) resolved(a.client_id, a);
    });
    return done;
  }

  function refuseAll(batch, message, touched) {
    return settle(
      batch.map(function (op) {
        return { client_id: op.client_id, job: op.job, outcome: "refused", detail: message };
      }),
      touched
    );
  }

  /* The next request: up to BATCH operations that are not photos, in
   * queue order; else one photo alone. */
  function nextBatch(q, single) {
    if (single) return q.slice(0, 1);
    var batch = [];
    for (var i = 0; i < q.length && batch.length < BATCH; i++) {
      if (q[i].op !== "photo") batch.push(q[i]);
    }
    return batch.length ? batch : q.slice(0, 1);
  }

  function flush() {
    if (flushing || !navigator.onLine || !load(QKEY).length) {
      render();
      return Promise.resolve();
    }
    flushing = true;
    var touched = {};
    var csrfTried = false;
    render();
    function step(single) {
      var q = load(QKEY);
      if (!q.length || !navigator.onLine) return Promise.resolve();
      var batch = nextBatch(q, single);
      return send(batch).then(function (r) {
        if (r.kind === "answers") {
          needLogin = false;
          return settle(r.answers, touched) > 0 ? step(false) : null;
        }
        if (r.kind === "too-large") {
          if (batch.length > 1) return step(true);
          refuseAll(batch, "too large to send (at most 1 MB)", touched);
          return step(false);
        }
        if (r.kind === "bad") {
          refuseAll(batch, r.message, touched);
          return step(false);
        }
        if (r.kind === "csrf" && !csrfTried) {
          csrfTried = true;
          return refreshCsrf().then(function (ok) {
            return ok ? step(single) : null;
          });
        }
        if (r.kind === "login" || r.kind === "csrf") needLogin = true;
        return null; // offline, the server busy, signed out: later
      });
    }
    return step(false)
      .catch(function (e) {
        warn("sync", e);
      })
      .then(function () {
        flushing = false;
        render();
        // The saved copies of the pages changed: fetch them again.
        var urls = Object.keys(touched).map(function (j) { return "/tech/jobs/" + j; });
        if (urls.length) precache(urls.concat(["/tech"]));
      });
  }

  /* Adds an operation to the queue, shows it, sends it when possible. */
  function enqueue(op) {
    var q = load(QKEY);
    q.push(op);
    if (!save(QKEY, q)) {
      // The phone's storage is full (photos are large).
      if (navigator.onLine) {
        optimistic(op);
        send([op]).then(function (r) {
          if (r.kind === "answers") settle(r.answers, {});
          else if (r.kind === "bad") refuseAll([op], r.message, {});
          else resolved(op.client_id, { outcome: "refused", detail: "not sent: the phone is full and the network failed" });
          render();
        });
      } else {
        var problems = load(PKEY);
        problems.push({
          client_id: op.client_id,
          job: op.job,
          outcome: "refused",
          detail: "the phone's storage is full: send the waiting changes first (go online), then try again",
          what: describe(op)
        });
        save(PKEY, problems);
        render();
      }
      return;
    }
    optimistic(op);
    render();
    flush();
  }

  /* --------------------------------------------------------- the forms */

  function formError(form, text) {
    var p = form.querySelector(".js-error");
    if (!p) {
      p = el("p", "field-error js-error");
      p.setAttribute("role", "alert");
      form.insertBefore(p, form.firstChild);
    }
    p.textContent = text;
  }

  function clearFormError(form) {
    var p = form.querySelector(".js-error");
    if (p) p.parentNode.removeChild(p);
  }

  function field(form, name) {
    var f = form.querySelector("[name=" + name + "]");
    return f ? f.value : "";
  }

  function busy(form, on) {
    each(form.querySelectorAll("button[type=submit]"), function (b) { b.disabled = on; });
    form.classList.toggle("is-busy", on);
  }

  /* A photo as base64 JPEG, at most 1280 px (smaller if still too big). */
  function shrink(file) {
    var decoded = window.createImageBitmap
      ? new Promise(function (resolve) { resolve(window.createImageBitmap(file)); }).catch(function () {
          return viaDataUrl(file);
        })
      : viaDataUrl(file);
    return decoded.then(function (img) {
      var tries = [[1280, 0.7], [1024, 0.6], [800, 0.5]];
      for (var i = 0; i < tries.length; i++) {
        var data = draw(img, tries[i][0], tries[i][1]);
        if (data.length <= MAX_PHOTO_B64) return data;
      }
      throw new Error("The photo is too large, even shrunk.");
    });
  }

  function viaDataUrl(file) {
    return new Promise(function (resolve, reject) {
      var r = new FileReader();
      r.onload = function () {
        var img = new Image();
        img.onload = function () { resolve(img); };
        img.onerror = function () { reject(new Error("This picture cannot be read here: take it as JPEG or PNG.")); };
        img.src = r.result;
      };
      r.onerror = function () { reject(new Error("The photo could not be read.")); };
      r.readAsDataURL(file);
    });
  }

  function draw(img, max, quality) {
    var w = img.naturalWidth || img.width;
    var h = img.naturalHeight || img.height;
    if (!w || !h) throw new Error("This picture cannot be read here.");
    var scale = Math.min(1, max / Math.max(w, h));
    var c = document.createElement("canvas");
    c.width = Math.max(1, Math.round(w * scale));
    c.height = Math.max(1, Math.round(h * scale));
    var ctx = c.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, c.width, c.height);
    ctx.drawImage(img, 0, 0, c.width, c.height);
    var url = c.toDataURL("image/jpeg", quality);
    return url.slice(url.indexOf(",") + 1);
  }

  function handle(form, submitter) {
    var kind = field(form, "op");
    clearFormError(form);
    var op = { client_id: randomId(), job: jobId, op: kind };
    if (jobId === null) return;
    if (kind === "status") {
      if (!submitter || submitter.name !== "to" || submitter.hidden) return;
      op.to = submitter.value;
      op.at_ms = Date.now();
      op.note = field(form, "note").trim();
      enqueue(op);
      var note = form.querySelector("[name=note]");
      if (note) note.value = "";
    } else if (kind === "note") {
      op.body = field(form, "body").trim();
      if (!op.body) return formError(form, "Write a note first.");
      op.at_ms = Date.now();
      enqueue(op);
      form.querySelector("[name=body]").value = "";
    } else if (kind === "check") {
      var box = form.querySelector("input[name=done]");
      op.position = parseInt(box.getAttribute("data-position"), 10);
      op.done = !!box.checked;
      op.at_ms = Date.now();
      enqueue(op);
    } else if (kind === "parts") {
      var ta = form.querySelector("[name=codes]");
      op.codes = ta.value.split(/[\r\n,;\t ]+/).map(function (s) { return s.trim(); }).filter(Boolean);
      if (!op.codes.length) return formError(form, "Scan or type at least one MAC or serial.");
      enqueue(op);
      ta.value = "";
      ta.dispatchEvent(new Event("input")); // mast.js's line count
    } else if (kind === "photo") {
      var input = form.querySelector("input[name=photo]");
      var file = input && input.files && input.files[0];
      if (!file) return formError(form, "Choose or take a photo first.");
      busy(form, true);
      shrink(file)
        .then(function (data) {
          op.data = data;
          op.at_ms = Date.now();
          enqueue(op);
          input.value = "";
        })
        .catch(function (e) {
          formError(form, (e && e.message) || "The photo could not be read.");
        })
        .then(function () {
          busy(form, false);
        });
    } else if (kind === "signature") {
      if (!pad || !pad.drawn) return formError(form, "Ask the customer to sign in the box first.");
      op.signed_by = field(form, "signed_by").trim();
      if (!op.signed_by) return formError(form, "Type the name of who signed.");
      op.png = pad.canvas.toDataURL("image/png");
      enqueue(op);
      pad.clear();
      form.querySelector("[name=signed_by]").value = "";
    }
  }

  /* ----------------------------------------------------- signature pad */

  function signaturePad(canvas) {
    var ctx = canvas.getContext("2d");
    if (!ctx) return null;
    var p = { canvas: canvas, drawn: false };
    var last = null;
    var ratio = window.devicePixelRatio || 1;
    function blank() {
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.strokeStyle = "#111";
      ctx.fillStyle = "#111";
      ctx.lineWidth = 2.2 * ratio;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
    }
    function fit() {
      var r = canvas.getBoundingClientRect();
      if (r.width && r.height) {
        canvas.width = Math.round(r.width * ratio);
        canvas.height = Math.round(r.height * ratio);
      }
      blank();
    }
    function pos(e) {
      var r = canvas.getBoundingClientRect();
      return {
        x: ((e.clientX - r.left) * canvas.width) / (r.width || 1),
        y: ((e.clientY - r.top) * canvas.height) / (r.height || 1)
      };
    }
    canvas.addEventListener("pointerdown", function (e) {
      e.preventDefault();
      if (canvas.setPointerCapture) {
        try {
          canvas.setPointerCapture(e.pointerId);
        } catch (err) { /* synthetic events */ }
      }
      last = pos(e);
      ctx.beginPath();
      ctx.arc(last.x, last.y, ctx.lineWidth / 2, 0, 2 * Math.PI);
      ctx.fill();
      p.drawn = true;
    });
    canvas.addEventListener("pointermove", function (e) {
      if (!last) return;
      e.preventDefault();
      var q = pos(e);
      ctx.beginPath();
      ctx.moveTo(last.x, last.y);
      ctx.lineTo(q.x, q.y);
      ctx.stroke();
      last = q;
      p.drawn = true;
    });
    ["pointerup", "pointercancel", "pointerleave"].forEach(function (t) {
      canvas.addEventListener(t, function () { last = null; });
    });
    p.clear = function () {
      blank();
      p.drawn = false;
    };
    window.addEventListener("resize", function () {
      if (!p.drawn) fit();
    });
    fit();
    return p;
  }

  /* ------------------------------------------------------------ start */

  function precache(urls) {
    if (!("serviceWorker" in navigator) || !urls.length) return;
    navigator.serviceWorker.ready
      .then(function (reg) {
        if (reg.active) reg.active.postMessage({ type: "cache", urls: urls });
      })
      .catch(function (e) {
        warn("precache", e);
      });
  }

  /* Today's job pages, saved for a day without network. */
  function saveRoute() {
    if (page !== "today" || !navigator.onLine) return;
    var urls = [];
    each(document.querySelectorAll("a.job-link"), function (a) {
      var u = a.getAttribute("href");
      if (u && urls.indexOf(u) < 0) urls.push(u);
    });
    if (navigator.serviceWorker && navigator.serviceWorker.controller) {
      // This page is under the worker: its network-first fetch keeps them.
      urls.forEach(function (u) {
        fetch(u, { credentials: "same-origin" }).catch(function () {});
      });
    } else {
      precache(urls.concat([location.pathname + location.search]));
    }
  }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/tech/sw.js", { scope: "/tech" }).catch(function (e) {
      warn("service worker", e);
    });
  }

  document.addEventListener(
    "click",
    function (e) {
      var b = e.target && e.target.closest ? e.target.closest("button[type=submit]") : null;
      if (b) lastSubmitter = b;
      var d = e.target && e.target.closest ? e.target.closest("#sync-status button.dismiss") : null;
      if (d) dismiss(d.getAttribute("data-id"));
      var c = e.target && e.target.closest ? e.target.closest("button.sig-clear") : null;
      if (c && pad) pad.clear();
    },
    true
  );

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form || !form.matches || !form.matches(FORMS)) return;
    if (!storageWorks()) {
      // No storage (a private window): the plain form post, signature included.
      if (form.matches("form.op-signature") && pad && pad.drawn) {
        form.querySelector("input[name=png]").value = pad.canvas.toDataURL("image/png");
      }
      return;
    }
    e.preventDefault();
    handle(form, e.submitter || lastSubmitter);
    lastSubmitter = null;
  });

  document.addEventListener("change", function (e) {
    var box = e.target;
    if (!box || !box.matches || !box.matches("form.op-check input[name=done]")) return;
    if (!storageWorks()) return; // the Save button posts it
    handle(box.form, null);
  });

  window.addEventListener("online", function () { flush(); });
  window.addEventListener("offline", render);
  window.addEventListener("storage", function (e) {
    if (e.key === QKEY || e.key === PKEY) render();
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") flush();
  });
  setInterval(flush, 30000);

  var canvas = document.getElementById("signature");
  if (canvas) pad = signaturePad(canvas);

  // Changes made earlier (maybe offline, maybe on a saved copy of this page).
  load(QKEY).forEach(optimistic);
  render();
  flush();
  if (document.readyState === "complete") saveRoute();
  else window.addEventListener("load", saveRoute);
})();
