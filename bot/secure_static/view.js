/* The secure view's only script, served by the school's own server. It reads the init
   data Telegram puts after the '#', keeps it in memory only (no cookie, no storage), and
   sends it with every request for a screen. */
(function () {
  "use strict";
  var root = document.getElementById("view");
  var api = document.body.getAttribute("data-api");
  var fragment = new URLSearchParams(window.location.hash.replace(/^#/, ""));
  var initData = fragment.get("tgWebAppData") || "";
  if (window.Telegram && window.Telegram.WebApp && window.Telegram.WebApp.initData) {
    initData = window.Telegram.WebApp.initData;
  }
  var objectUrls = [];
  var ready = false;

  // Tells the Telegram app the page is ready and may fill the screen, as Telegram's own
  // script would (which is not loaded: nothing comes from another host).
  function postEvent(type) {
    var event = JSON.stringify({ eventType: type, eventData: "" });
    try {
      if (window.TelegramWebviewProxy) {
        window.TelegramWebviewProxy.postEvent(type, "");
      } else if (window.external && "notify" in window.external) {
        window.external.notify(event);
      } else if (window.parent !== window) {
        window.parent.postMessage(event, "https://web.telegram.org");
      }
    } catch (ignored) { /* not inside Telegram: nothing to tell */ }
  }

  function refused() {
    root.innerHTML = "";
    var box = document.getElementById("refused");
    box.hidden = false;
    root.appendChild(box);
  }

  function message(text) {
    root.innerHTML = "";
    var p = document.createElement("p");
    p.className = "error";
    p.textContent = text;
    root.appendChild(p);
  }

  function files(list, label) {
    objectUrls.forEach(function (url) { URL.revokeObjectURL(url); });
    objectUrls = [];
    root.querySelectorAll("[data-file]").forEach(function (item) {
      var file = list[Number(item.getAttribute("data-file"))];
      if (!file) { return; }
      var url = URL.createObjectURL(new Blob([file.content], { type: file.type }));
      objectUrls.push(url);
      var a = document.createElement("a");
      a.href = url;
      a.download = file.name;
      a.className = "download";
      a.textContent = label + ": " + file.name;
      item.textContent = "";
      item.appendChild(a);
    });
  }

  function load(query) {
    if (!initData) { refused(); return; }
    var params = new URLSearchParams(query);
    fetch(api + "?" + params.toString(), {
      headers: { "X-Telegram-Init-Data": initData },
      cache: "no-store",
      credentials: "omit"
    }).then(function (response) {
      if (response.status === 401) { refused(); return null; }
      return response.json().then(function (body) {
        if (body.lang) { document.documentElement.lang = body.lang; }
        if (!response.ok) { message(body.error || "…"); return; }
        document.title = body.title;
        root.innerHTML = body.html;
        files(body.files || [], body.download || "");
        window.scrollTo(0, 0);
        if (!ready) {
          ready = true;
          postEvent("web_app_ready");
          postEvent("web_app_expand");
        }
      });
    }).catch(function () { message("…"); });
  }

  root.addEventListener("click", function (event) {
    var a = event.target.closest("a[data-view]");
    if (!a) { return; }
    event.preventDefault();
    var query = a.getAttribute("href").replace(/^\?/, "");
    // The address keeps no init data: only the screen's ids.
    window.history.pushState(null, "", window.location.pathname + "?" + query);
    load(query);
  });
  window.addEventListener("popstate", function () {
    load(window.location.search.replace(/^\?/, ""));
  });
  // Out of the address bar and the history: the init data stays in this page's memory.
  window.history.replaceState(null, "", window.location.pathname + window.location.search);
  load(window.location.search.replace(/^\?/, ""));
}());
