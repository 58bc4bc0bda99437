/* mast.js — progressive enhancement for Mast pages. No build step.
 *
 * [data-chart] placeholders become uPlot charts, [data-map] placeholders
 * Leaflet maps. Each keeps its server-rendered fallback child until it has
 * drawn, and keeps it for good when the data or the library can't be had.
 * The libraries load on demand from ./vendor/ next to this file.
 *
 * Works under `Content-Security-Policy: default-src 'self'`: no eval, no
 * inline styles in markup, and no caller data ever goes through innerHTML.
 */
(function () {
  "use strict";

  var self = document.currentScript && document.currentScript.src;
  var base = self || new URL("/assets/mast.js", location.href).href;
  var seen = typeof WeakSet === "function" ? new WeakSet() : null;
  var charts = [];
  var libs = {};

  function asset(path) {
    return new URL(path, base).href;
  }

  function each(list, fn) {
    Array.prototype.forEach.call(list, fn);
  }

  function warn(what, err) {
    if (window.console && console.warn) console.warn("mast.js: " + what + ":", err);
  }

  /* Loads a vendored library (script and stylesheet) once; resolves with
   * its global when both have loaded. */
  function loadLib(global, js, css) {
    if (window[global]) return Promise.resolve(window[global]);
    if (!libs[global]) {
      var sheet = new Promise(function (resolve) {
        var link = document.createElement("link");
        link.rel = "stylesheet";
        link.href = asset(css);
        link.onload = link.onerror = function () {
          resolve();
        };
        document.head.appendChild(link);
      });
      var script = new Promise(function (resolve, reject) {
        var s = document.createElement("script");
        s.src = asset(js);
        s.onload = resolve;
        s.onerror = function () {
          reject(new Error("could not load " + js));
        };
        document.head.appendChild(s);
      });
      libs[global] = Promise.all([script, sheet]).then(function () {
        if (!window[global]) throw new Error(global + " did not load");
        return window[global];
      });
    }
    return libs[global];
  }

  /* Same-origin JSON, with the session cookie. */
  function getJSON(url) {
    return fetch(url, { mode: "same-origin", credentials: "same-origin", headers: { Accept: "application/json" } }).then(
      function (r) {
        if (!r.ok) throw new Error(url + ": HTTP " + r.status);
        return r.json();
      }
    );
  }

  function removeAllBut(el, keep) {
    each(Array.prototype.slice.call(el.childNodes), function (n) {
      if (n !== keep) el.removeChild(n);
    });
  }

  /* ---------------- charts ---------------- */

  var PALETTE = ["#14324f", "#d68910", "#1f8a4c", "#8e44ad"];

  function cssVar(el, name, fallback) {
    var v = getComputedStyle(el).getPropertyValue(name).trim();
    return v || fallback;
  }

  function translucent(color, alpha) {
    var m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
    if (!m) return color;
    return "rgba(" + parseInt(m[1], 16) + "," + parseInt(m[2], 16) + "," + parseInt(m[3], 16) + "," + alpha + ")";
  }

  function num(v) {
    return typeof v === "number" && isFinite(v) ? v : null;
  }

  function fmt(v) {
    if (v == null || !isFinite(v)) return "–";
    return Number(v).toLocaleString(undefined, { maximumFractionDigits: Math.abs(v) >= 100 ? 0 : 2 });
  }

  function contentWidth(el) {
    var cs = getComputedStyle(el);
    var w = el.clientWidth - parseFloat(cs.paddingLeft || 0) - parseFloat(cs.paddingRight || 0);
    return Math.max(200, Math.floor(w));
  }

  /* Builds the uPlot options and columns from
   * {"x":[unix s…], "series":[{"label","values":[n|null…],"scale"}…]}.
   * Returns null when there is nothing to draw. */
  function chartConfig(el, uPlot, data) {
    var x = data && data.x;
    var list = data && data.series;
    if (!Array.isArray(x) || !x.length || !Array.isArray(list) || !list.length) return null;
    var kind = el.getAttribute("data-chart") || "line";
    var grid = "#e3e6ea";
    var muted = cssVar(el, "--muted", "#5b6575");
    var scales = [];
    var named = {};
    var cols = [x.map(Number)];
    var series = [{ label: "Time", value: "{YYYY}-{MM}-{DD} {HH}:{mm}" }];
    list.forEach(function (s, i) {
      var scale = typeof s.scale === "string" && s.scale ? s.scale : "y";
      if (scales.indexOf(scale) < 0) scales.push(scale);
      if (scale !== "y") named[scale] = true;
      var color = cssVar(el, "--series-" + ((i % 4) + 1), PALETTE[i % 4]);
      var values = Array.isArray(s.values) ? s.values : [];
      var cfg = {
        label: String(s.label == null ? "Series " + (i + 1) : s.label),
        scale: scale,
        stroke: color,
        width: 1.5,
        spanGaps: false,
        value: function (u, v) {
          return fmt(v);
        },
      };
      if (kind === "area") cfg.fill = translucent(color, 0.15);
      if (kind === "bars" && uPlot.paths && uPlot.paths.bars) {
        cfg.paths = uPlot.paths.bars({ size: [0.6, 64] });
        cfg.fill = translucent(color, 0.6);
        cfg.points = { show: false };
      }
      series.push(cfg);
      cols.push(
        x.map(function (_, j) {
          return num(values[j]);
        })
      );
    });
    var axes = [{ stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } }];
    scales.forEach(function (name, i) {
      axes.push({
        scale: name,
        side: i === 0 ? 3 : 1,
        stroke: muted,
        size: 58,
        grid: { show: i === 0, stroke: grid, width: 1 },
        ticks: { stroke: grid, width: 1 },
        values: function (u, ticks) {
          return ticks.map(function (t) {
            return named[name] ? fmt(t) + " " + name : fmt(t);
          });
        },
      });
    });
    var height = parseInt(cssVar(el, "--chart-height", "200"), 10) || 200;
    return {
      opts: {
        width: contentWidth(el),
        height: height,
        series: series,
        axes: axes,
        scales: { x: { time: true } },
        legend: { live: true },
        cursor: { focus: { prox: 24 } },
      },
      cols: cols,
    };
  }

  function drawChart(el, uPlot, data) {
    var cfg = chartConfig(el, uPlot, data);
    if (!cfg) throw new Error("no samples");
    var holder = document.createElement("div");
    holder.className = "chart-canvas";
    var u = new uPlot(cfg.opts, cfg.cols, holder);
    removeAllBut(el, null);
    el.appendChild(holder);
    el.classList.add("is-live");
    charts.push({ el: el, u: u, height: cfg.opts.height });
    u.setSize({ width: contentWidth(el), height: cfg.opts.height });
  }

  var resizeQueued = false;
  window.addEventListener("resize", function () {
    if (resizeQueued) return;
    resizeQueued = true;
    requestAnimationFrame(function () {
      resizeQueued = false;
      charts = charts.filter(function (c) {
        if (!document.documentElement.contains(c.el)) {
          c.u.destroy();
          return false;
        }
        c.u.setSize({ width: contentWidth(c.el), height: c.height });
        return true;
      });
    });
  });

  /* ---------------- maps ---------------- */

  var TONES = {
    up: "up",
    connected: "up",
    active: "up",
    ok: "up",
    down: "down",
    offline: "down",
    revoked: "down",
    failed: "down",
    suspended: "down",
    degraded: "degraded",
    "at risk": "degraded",
  };

  function tone(status) {
    var t = TONES[String(status == null ? "" : status).toLowerCase()];
    return typeof t === "string" ? t : "unknown";
  }

  /* Only same-site paths ("/sites/4"), never "//host" or "javascript:". */
  function localHref(h) {
    return typeof h === "string" && /^\/(?![\/\\])/.test(h) ? h : null;
  }

  function located(p) {
    return (
      p &&
      typeof p.lat === "number" &&
      typeof p.lon === "number" &&
      isFinite(p.lat) &&
      isFinite(p.lon) &&
      Math.abs(p.lat) <= 90 &&
      Math.abs(p.lon) <= 180
    );
  }

  function text(tag, className, content) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    e.textContent = content;
    return e;
  }

  function popupContent(p, what) {
    var box = text("div", "map-popup", "");
    var href = localHref(p.href);
    var title = text(href ? "a" : "strong", "", String(p.name == null ? "" : p.name));
    if (href) title.href = href;
    box.appendChild(title);
    var line = text("div", "", what + " ");
    line.appendChild(text("span", "badge " + tone(p.status), String(p.status == null ? "unknown" : p.status)));
    box.appendChild(line);
    return box;
  }

  function addMarker(L, layer, p, isSite) {
    var what = isSite ? "Tower" : "Customer";
    var m = L.circleMarker([p.lat, p.lon], {
      radius: isSite ? 9 : 4,
      weight: isSite ? 2 : 1,
      className: "mk " + (isSite ? "mk-site" : "mk-cust") + " mk-" + tone(p.status),
    });
    m.bindPopup(function () {
      return popupContent(p, what);
    });
    m.addTo(layer);
    var path = m.getElement && m.getElement();
    if (path) {
      path.setAttribute("tabindex", "0");
      path.setAttribute("role", "button");
      path.setAttribute("aria-label", what + " " + String(p.name) + ": " + String(p.status));
      path.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          m.openPopup();
        }
      });
    }
    return m.getLatLng();
  }

  function textControl(L, position, build) {
    var C = L.Control.extend({
      options: { position: position },
      onAdd: build,
    });
    return new C();
  }

  function legend() {
    var box = text("div", "map-legend", "");
    [
      ["mk-up", "Tower up"],
      ["mk-degraded", "Tower degraded"],
      ["mk-down", "Tower down"],
      ["mk-cust", "Customer"],
      ["mk-link", "Tower-to-tower link"],
    ].forEach(function (item) {
      var row = text("div", "", "");
      row.appendChild(text("span", "sw " + item[0], ""));
      row.appendChild(document.createTextNode(item[1]));
      box.appendChild(row);
    });
    return box;
  }

  /* [[lat, lon], [lat, lon]]: both ends finite numbers. */
  function isLink(l) {
    return Array.isArray(l) && l.length === 2 && l.every(function (p) {
      return Array.isArray(p) && p.length === 2 && isFinite(p[0]) && isFinite(p[1]) &&
        typeof p[0] === "number" && typeof p[1] === "number";
    });
  }

  /* {"sites":[{id,name,lat,lon,status,href}…],"customers":[…],"links":[[[lat,lon],[lat,lon]]…]} */
  function drawMap(el, L, data) {
    if (data && data.dispatch) return drawDispatch(el, L, data);
    var sites = (data && Array.isArray(data.sites) ? data.sites : []).filter(located);
    var customers = (data && Array.isArray(data.customers) ? data.customers : []).filter(located);
    if (!sites.length && !customers.length) throw new Error("nothing located");
    var holder = document.createElement("div");
    holder.className = "map-canvas";
    el.classList.add("is-live");
    el.appendChild(holder);
    try {
      var map = L.map(holder, { attributionControl: false, scrollWheelZoom: false, zoomSnap: 0.5 });
      var tiles = el.getAttribute("data-tiles");
      var credit = el.getAttribute("data-attribution");
      // Tiles are decoration: markers are vectors and draw without them.
      if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
      if (credit) {
        textControl(L, "bottomright", function () {
          return text("div", "leaflet-control-attribution", credit);
        }).addTo(map);
      }
      textControl(L, "bottomleft", legend).addTo(map);
      // The view first: Leaflet adds layers only to a map that has one.
      var points = customers.concat(sites).map(function (p) {
        return [p.lat, p.lon];
      });
      if (points.length === 1) map.setView(points[0], 14);
      else map.fitBounds(L.latLngBounds(points), { padding: [24, 24], maxZoom: 16 });
      // Tower-to-tower links under everything else.
      (data && Array.isArray(data.links) ? data.links : []).filter(isLink).forEach(function (l) {
        L.polyline(l, { weight: 3, color: "#2e86c1", opacity: 0.8, interactive: false, className: "site-link" }).addTo(map);
      });
      // Customers first, so towers draw on top.
      customers.forEach(function (p) {
        addMarker(L, map, p, false);
      });
      sites.forEach(function (p) {
        addMarker(L, map, p, true);
      });
    } catch (e) {
      el.removeChild(holder);
      el.classList.remove("is-live");
      throw e;
    }
    removeAllBut(el, holder);
  }

  /* A map to pick a point: a click fills the latitude and longitude fields
     named by data-lat-field / data-lon-field (typing still works). */
  function drawPicker(el, L) {
    var lat = document.getElementById(el.getAttribute("data-lat-field"));
    var lon = document.getElementById(el.getAttribute("data-lon-field"));
    if (!lat || !lon) return;
    var holder = document.createElement("div");
    holder.className = "map-canvas";
    el.appendChild(holder);
    el.classList.add("is-live");
    var map = L.map(holder, { attributionControl: false, scrollWheelZoom: false });
    var tiles = el.getAttribute("data-tiles");
    if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
    var marker = null;
    function place(ll) {
      if (marker) marker.setLatLng(ll);
      else marker = L.circleMarker(ll, { radius: 9, weight: 2, className: "mk mk-site mk-unknown" }).addTo(map);
    }
    var p = { lat: parseFloat(lat.value), lon: parseFloat(lon.value) };
    if (located(p)) {
      map.setView([p.lat, p.lon], 13);
      place([p.lat, p.lon]);
    } else {
      map.setView([20, 0], 2);
    }
    map.on("click", function (e) {
      lat.value = e.latlng.lat.toFixed(6);
      lon.value = e.latlng.lng.toFixed(6);
      place(e.latlng);
    });
    removeAllBut(el, holder);
  }

  function pickers(root) {
    var found = root.querySelectorAll ? root.querySelectorAll("[data-map-picker]") : [];
    each(found, function (el) {
      if (seen) {
        if (seen.has(el)) return;
        seen.add(el);
      }
      loadLib("L", "vendor/leaflet.js", "vendor/leaflet.css")
        .then(function (L) {
          drawPicker(el, L);
        })
        .catch(function (err) {
          el.classList.add("is-failed");
          warn("map picker", err);
        });
    });
  }

  /* ---------------- wiring ---------------- */

  function enhance(root, selector, lib, draw) {
    var found = [];
    if (root.matches && root.matches(selector)) found.push(root);
    each(root.querySelectorAll ? root.querySelectorAll(selector) : [], function (el) {
      found.push(el);
    });
    found.forEach(function (el) {
      if (seen) {
        if (seen.has(el)) return;
        seen.add(el);
      }
      var src = el.getAttribute("data-src");
      if (!src) return;
      Promise.all([lib(), getJSON(src)])
        .then(function (r) {
          draw(el, r[0], r[1]);
        })
        .catch(function (err) {
          el.classList.add("is-failed");
          warn(selector + " " + src, err);
        });
    });
  }

  /* Scanning. A textarea[data-scan] takes one MAC or serial per line: a
   * barcode scanner in keyboard mode types the code and Enter, which is a
   * new line there, so it works with no script at all. Here: a live count
   * of the lines, and on a browser with BarcodeDetector and a camera, a
   * "Scan with camera" button that appends every new code it reads until
   * Done. An input[data-scan="one"] (a search box) takes one code and
   * submits its form. */
  function lines(el) {
    return el.value.split(/[\r\n]+/).map(function (l) { return l.trim(); }).filter(Boolean);
  }

  function scanners(root) {
    each(root.querySelectorAll("textarea[data-scan]"), function (el) {
      if (el.dataset.scanReady) return;
      el.dataset.scanReady = "1";
      var count = document.createElement("p");
      count.className = "field-hint scan-count";
      count.setAttribute("aria-live", "polite");
      var show = function () {
        var n = lines(el).length;
        count.textContent = n === 1 ? "1 line" : n + " lines";
      };
      el.addEventListener("input", show);
      el.parentNode.insertBefore(count, el.nextSibling);
      show();
      if (!("BarcodeDetector" in window) || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "scan-camera";
      button.textContent = "Scan with camera";
      count.parentNode.insertBefore(button, count.nextSibling);
      button.addEventListener("click", function () {
        camera(el, button, show);
      });
    });
  }

  function camera(el, button, show) {
    var box = document.createElement("div");
    box.className = "scan-box";
    var video = document.createElement("video");
    video.setAttribute("playsinline", "");
    video.muted = true;
    var done = document.createElement("button");
    done.type = "button";
    done.textContent = "Done";
    var status = document.createElement("p");
    status.setAttribute("aria-live", "polite");
    status.textContent = "Point the camera at a barcode or QR code.";
    box.appendChild(video);
    box.appendChild(status);
    box.appendChild(done);
    button.parentNode.insertBefore(box, button.nextSibling);
    button.hidden = true;
    var stream = null;
    var stopped = false;
    var stop = function () {
      stopped = true;
      if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
      box.parentNode && box.parentNode.removeChild(box);
      button.hidden = false;
      el.focus();
    };
    done.addEventListener("click", stop);
    var detector;
    try {
      detector = new window.BarcodeDetector();
    } catch (e) {
      status.textContent = "This browser cannot read barcodes: type or use a scanner.";
      return;
    }
    navigator.mediaDevices
      .getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (s) {
        stream = s;
        if (stopped) return stop();
        video.srcObject = s;
        return video.play().then(function () {
          var tick = function () {
            if (stopped) return;
            detector
              .detect(video)
              .then(function (codes) {
                codes.forEach(function (c) {
                  var v = (c.rawValue || "").trim();
                  if (v && lines(el).indexOf(v) < 0) {
                    el.value = (el.value && !/\n$/.test(el.value) ? el.value + "\n" : el.value) + v + "\n";
                    show();
                    status.textContent = "Added " + v;
                    if (navigator.vibrate) navigator.vibrate(60);
                  }
                });
              })
              .catch(function (err) { warn("barcode", err); })
              .then(function () { setTimeout(tick, 250); });
          };
          tick();
        });
      })
      .catch(function (err) {
        status.textContent = "No camera: type the codes or use a scanner.";
        warn("camera", err);
      });
  }


  /* The dispatch board's map: zones, each technician's route in order
     (start, stops, end) in its colour, the unscheduled jobs in grey. */
  function drawDispatch(el, L, data) {
    var routes = Array.isArray(data.routes) ? data.routes : [];
    var waiting = (Array.isArray(data.unscheduled) ? data.unscheduled : []).filter(located);
    var zones = Array.isArray(data.zones) ? data.zones : [];
    var points = [];
    routes.forEach(function (r) {
      (r.stops || []).filter(located).forEach(function (s) { points.push([s.lat, s.lon]); });
      if (isPair(r.start)) points.push(r.start);
    });
    waiting.forEach(function (s) { points.push([s.lat, s.lon]); });
    zones.forEach(function (z) { (z.corners || []).filter(isPair).forEach(function (c) { points.push(c); }); });
    if (!points.length) throw new Error("nothing located");
    var holder = document.createElement("div");
    holder.className = "map-canvas";
    el.classList.add("is-live");
    el.appendChild(holder);
    var map = L.map(holder, { attributionControl: false, scrollWheelZoom: false, zoomSnap: 0.5 });
    var tiles = el.getAttribute("data-tiles");
    if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
    var credit = el.getAttribute("data-attribution");
    if (credit) {
      textControl(L, "bottomright", function () {
        return text("div", "leaflet-control-attribution", credit);
      }).addTo(map);
    }
    if (points.length === 1) map.setView(points[0], 14);
    else map.fitBounds(L.latLngBounds(points), { padding: [24, 24], maxZoom: 16 });
    zones.forEach(function (z) {
      var c = (z.corners || []).filter(isPair);
      if (c.length < 3) return;
      L.polygon(c, { color: z.colour || "#888", weight: 1, fillOpacity: 0.08, interactive: false }).addTo(map);
    });
    routes.forEach(function (r) {
      var stops = (r.stops || []).filter(located);
      var line = [];
      if (isPair(r.start)) line.push(r.start);
      stops.forEach(function (s) { line.push([s.lat, s.lon]); });
      if (isPair(r.end)) line.push(r.end);
      if (line.length > 1) L.polyline(line, { color: r.colour, weight: 3, opacity: 0.8, interactive: false }).addTo(map);
      stops.forEach(function (s, i) {
        var m = L.circleMarker([s.lat, s.lon], { radius: 8, color: r.colour, weight: 2, fillOpacity: 0.9 }).addTo(map);
        m.bindTooltip(String(i + 1) + ". " + (s.time || "") + " " + s.title);
        m.on("click", function () { if (localHref(s.href)) window.location.href = s.href; });
      });
    });
    waiting.forEach(function (s) {
      var m = L.circleMarker([s.lat, s.lon], { radius: 6, color: "#777", weight: 2, dashArray: "2", fillOpacity: 0.4 }).addTo(map);
      m.bindTooltip("Unscheduled: " + s.title);
    });
    removeAllBut(el, holder);
  }

  function isPair(p) {
    return Array.isArray(p) && p.length === 2 && p.every(function (x) { return typeof x === "number" && isFinite(x); });
  }

  /* The zone editor: each click on the map adds a corner; the polygon and
     the form's corners field ([[lat, lon], ...]) follow. Typing in the
     field still works (the map redraws on change). */
  function zoneEditors(root) {
    var found = root.querySelectorAll ? root.querySelectorAll("[data-zone-editor]") : [];
    each(found, function (el) {
      if (seen) {
        if (seen.has(el)) return;
        seen.add(el);
      }
      Promise.all([loadLib("L", "vendor/leaflet.js", "vendor/leaflet.css"), getJSON(el.getAttribute("data-src"))])
        .then(function (both) { drawZoneEditor(el, both[0], both[1]); })
        .catch(function (err) {
          el.classList.add("is-failed");
          warn("zone map", err);
        });
    });
  }

  function drawZoneEditor(el, L, data) {
    var field = document.querySelector("textarea[name=corners]");
    var holder = document.createElement("div");
    holder.className = "map-canvas";
    el.appendChild(holder);
    el.classList.add("is-live");
    var map = L.map(holder, { attributionControl: false, scrollWheelZoom: false });
    var tiles = el.getAttribute("data-tiles");
    if (tiles) L.tileLayer(tiles, { maxZoom: 19 }).addTo(map);
    var corners = [];
    try {
      var parsed = JSON.parse((field && field.value) || "[]");
      if (Array.isArray(parsed)) corners = parsed.filter(isPair);
    } catch (e) { corners = []; }
    var context = [];
    (data && Array.isArray(data.zones) ? data.zones : []).forEach(function (z) {
      var c = (z.corners || []).filter(isPair);
      if (c.length >= 3) {
        L.polygon(c, { color: z.colour || "#888", weight: 1, fillOpacity: 0.05, interactive: false }).addTo(map);
        context = context.concat(c);
      }
    });
    (data && Array.isArray(data.routes) ? data.routes : []).forEach(function (r) {
      if (isPair(r.start)) context.push(r.start);
    });
    var shape = null;
    var dots = L.layerGroup().addTo(map);
    function redraw(write) {
      if (shape) map.removeLayer(shape);
      dots.clearLayers();
      shape = corners.length >= 2 ? L.polygon(corners, { color: "#d62728", weight: 2, fillOpacity: 0.15 }).addTo(map) : null;
      corners.forEach(function (c) { L.circleMarker(c, { radius: 4, color: "#d62728" }).addTo(dots); });
      if (write && field) {
        field.value = JSON.stringify(corners.map(function (c) {
          return [Math.round(c[0] * 1e6) / 1e6, Math.round(c[1] * 1e6) / 1e6];
        }));
      }
    }
    var all = corners.concat(context);
    if (all.length) map.fitBounds(L.latLngBounds(all), { padding: [24, 24], maxZoom: 15 });
    else map.setView([20, 0], 2);
    redraw(false);
    map.on("click", function (e) {
      corners.push([e.latlng.lat, e.latlng.lng]);
      redraw(true);
    });
    var undo = document.querySelector("[data-zone-undo]");
    var clear = document.querySelector("[data-zone-clear]");
    if (undo) undo.addEventListener("click", function () { corners.pop(); redraw(true); });
    if (clear) clear.addEventListener("click", function () { corners = []; redraw(true); });
    if (field) {
      field.addEventListener("change", function () {
        try {
          var p = JSON.parse(field.value || "[]");
          if (Array.isArray(p)) { corners = p.filter(isPair); redraw(false); }
        } catch (e) { /* the server says what is wrong */ }
      });
    }
    removeAllBut(el, holder);
  }

  /* Colour swatches (no inline styles in the markup: the CSP forbids them). */
  function swatches(root) {
    each(root.querySelectorAll ? root.querySelectorAll("[data-colour]") : [], function (el) {
      var c = el.getAttribute("data-colour");
      if (/^#[0-9a-fA-F]{6}$/.test(c || "")) el.style.backgroundColor = c;
    });
  }

  /* The dispatch board: drag a job card onto a technician's column (before
     another card, or at its end) or onto Unscheduled; the drop fills the
     card's own move form and submits it, so the server path is the one the
     form takes without JavaScript. */
  function board(root) {
    var boards = root.querySelectorAll ? root.querySelectorAll("[data-board]") : [];
    each(boards, function (b) {
      if (seen) {
        if (seen.has(b)) return;
        seen.add(b);
      }
      var dragged = null;
      b.addEventListener("dragstart", function (e) {
        var card = e.target && e.target.closest ? e.target.closest("li.job-card[draggable]") : null;
        if (!card) return;
        dragged = card;
        card.classList.add("is-dragging");
        if (e.dataTransfer) {
          e.dataTransfer.effectAllowed = "move";
          e.dataTransfer.setData("text/plain", card.getAttribute("data-job"));
        }
      });
      b.addEventListener("dragend", function () {
        if (dragged) dragged.classList.remove("is-dragging");
        dragged = null;
      });
      b.addEventListener("dragover", function (e) {
        var col = e.target && e.target.closest ? e.target.closest(".board-col") : null;
        if (!col) return;
        e.preventDefault();
        if (e.dataTransfer) e.dataTransfer.dropEffect = "move";
      });
      b.addEventListener("drop", function (e) {
        var col = e.target && e.target.closest ? e.target.closest(".board-col") : null;
        if (!col) return;
        e.preventDefault();
        var id = (e.dataTransfer && e.dataTransfer.getData("text/plain")) || (dragged && dragged.getAttribute("data-job"));
        var card = id ? document.getElementById("job-" + id) : null;
        var form = card ? card.querySelector("form.move-form") : null;
        if (!form) return;
        var over = e.target.closest("li.job-card");
        var before = over && over !== card ? over.getAttribute("data-job") : "";
        form.querySelector("[name=technician]").value = col.getAttribute("data-tech") || "";
        form.querySelector("[name=before]").value = before || "";
        form.submit();
      });
    });
  }

  function init(root) {
    enhance(
      root,
      "[data-chart]",
      function () {
        return loadLib("uPlot", "vendor/uPlot.iife.min.js", "vendor/uPlot.min.css");
      },
      drawChart
    );
    enhance(
      root,
      "[data-map]",
      function () {
        return loadLib("L", "vendor/leaflet.js", "vendor/leaflet.css");
      },
      drawMap
    );
    pickers(root);
    scanners(root);
    zoneEditors(root);
    swatches(root);
    board(root);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      init(document);
    });
  } else {
    init(document);
  }
  // Content swapped in by htmx may bring charts and maps of its own.
  document.addEventListener("htmx:load", function (e) {
    if (e.target) init(e.target);
  });
})();
