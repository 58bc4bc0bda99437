/* sw.js — the technician's phone view offline (served at /tech/sw.js,
 * registered by tech.js with scope /tech).
 *
 * Pages under /tech: network first, the last good answer kept in the cache
 * and served when there is no network (tech.js asks for today's job pages
 * so they are there before the van leaves coverage). Job photos and
 * signatures seen once are kept the same way. Assets: from the cache first,
 * refreshed in the background. POSTs are never touched: the queue of
 * changes lives in tech.js (localStorage) and is sent when online.
 */
"use strict";

var CACHE = "mast-tech-v1";
var ASSETS = [
  "/assets/mast.css",
  "/assets/mast.js",
  "/assets/tech.js",
  "/assets/tech.css",
  "/assets/vendor/htmx.min.js"
];
var OFFLINE_TEXT = "Offline and this page was not saved";

/* A page worth keeping: a same-origin 200 that is not the login page we
 * were redirected to. */
function good(res) {
  return !!res && res.ok && !res.redirected && res.type === "basic";
}

function isPage(path) {
  return path === "/tech" || (path.indexOf("/tech/") === 0 && path !== "/tech/sw.js" && path !== "/tech/sync");
}

function isJobMedia(path) {
  return /^\/dispatch\/jobs\/\d+\/(photos\/\d+|signature)$/.test(path);
}

/* Fetches `url` and keeps a good answer; never rejects. */
function keep(cache, url) {
  return fetch(url, { credentials: "same-origin", cache: "no-store" })
    .then(function (res) {
      if (good(res)) return cache.put(url, res);
    })
    .catch(function () {});
}

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches
      .open(CACHE)
      .then(function (cache) {
        return Promise.all(["/tech"].concat(ASSETS).map(function (u) { return keep(cache, u); }));
      })
      .then(function () {
        return self.skipWaiting();
      })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches
      .keys()
      .then(function (keys) {
        return Promise.all(
          keys
            .filter(function (k) { return k.indexOf("mast-tech-") === 0 && k !== CACHE; })
            .map(function (k) { return caches.delete(k); })
        );
      })
      .then(function () {
        return self.clients.claim();
      })
  );
});

function offline() {
  return new Response(OFFLINE_TEXT, {
    status: 503,
    headers: { "Content-Type": "text/plain; charset=utf-8" }
  });
}

function fromCache(request) {
  return caches.open(CACHE).then(function (cache) {
    return cache.match(request).then(function (hit) {
      // /tech/jobs/5?done=note offline: the page without its message.
      return hit || cache.match(request, { ignoreSearch: true });
    });
  });
}

function networkFirst(request) {
  return fetch(request)
    .then(function (res) {
      if (good(res)) {
        var copy = res.clone();
        caches.open(CACHE).then(function (cache) { return cache.put(request, copy); }).catch(function () {});
        return res;
      }
      // The controller is down behind a proxy: the saved copy is better.
      if (res.status >= 500) {
        return fromCache(request).then(function (hit) { return hit || res; });
      }
      return res;
    })
    .catch(function () {
      return fromCache(request).then(function (hit) {
        return hit || offline();
      });
    });
}

function cacheFirst(request, event) {
  return caches.open(CACHE).then(function (cache) {
    return cache.match(request).then(function (hit) {
      var refresh = fetch(request)
        .then(function (res) {
          if (good(res)) return cache.put(request, res.clone()).then(function () { return res; });
          return res;
        });
      if (hit) {
        event.waitUntil(refresh.catch(function () {}));
        return hit;
      }
      return refresh.catch(function () { return offline(); });
    });
  });
}

self.addEventListener("fetch", function (event) {
  var req = event.request;
  if (req.method !== "GET") return;
  var url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (isPage(url.pathname) || isJobMedia(url.pathname)) {
    event.respondWith(networkFirst(req));
  } else if (url.pathname.indexOf("/assets/") === 0) {
    event.respondWith(cacheFirst(req, event));
  }
});

/* tech.js: {type: "cache", urls: ["/tech/jobs/5", ...]} keeps those pages
 * (today's route) for offline use. Only our own pages. */
self.addEventListener("message", function (event) {
  var d = event.data;
  if (!d || d.type !== "cache" || !Array.isArray(d.urls)) return;
  var urls = d.urls
    .filter(function (u) { return typeof u === "string"; })
    .map(function (u) { return new URL(u, self.location.origin); })
    .filter(function (u) { return u.origin === self.location.origin && isPage(u.pathname); })
    .map(function (u) { return u.pathname + u.search; })
    .slice(0, 100);
  event.waitUntil(
    caches.open(CACHE).then(function (cache) {
      return Promise.all(urls.map(function (u) { return keep(cache, u); }));
    })
  );
});
