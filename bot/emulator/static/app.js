// Web chat of the Ouderloket demo: pick a persona and chat with the bot as in Telegram.
// Plain ES2020, no build step, no external resources.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);

  const els = {
    personas: $("personas"),
    botName: $("bot-name"),
    messages: $("messages"),
    input: $("input"),
    send: $("send"),
    composer: $("composer"),
    current: $("current-persona"),
    currentDesc: $("current-desc"),
    status: $("status"),
    back: $("back"),
    toasts: $("toasts"),
    codebar: $("codebar"),
    codebarCode: $("codebar-code"),
    useCode: $("use-code"),
    modal: $("alert-modal"),
    modalText: $("alert-text"),
    modalFrom: $("alert-from"),
    modalOk: $("alert-ok"),
    webPanel: $("webapp-panel"),
    webFrame: $("webapp-frame"),
    webClose: $("webapp-close"),
  };

  const state = {
    botName: "Ouderloket",
    personas: [],
    current: null, // the chosen persona object
    session: null, // see newSession()
    shownAlerts: new Map(), // user_id -> Set of alert ids already shown (or seen)
    rendered: new Map(), // message_id -> {sig, el} for the current chat
    forceScroll: false,
    sending: false,
    modalQueue: [],
  };

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // --- small helpers ------------------------------------------------------------------

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("data-")) node.setAttribute(key, String(value));
      else if (key in node && typeof node[key] !== "function") node[key] = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child);
    }
    return node;
  }

  async function postJson(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok && !(data && typeof data === "object")) {
      return { ok: false, error: `De server gaf een fout (${response.status}).` };
    }
    return data || { ok: false, error: "Onverwacht antwoord van de server." };
  }

  function setStatus(text, kind = "") {
    els.status.textContent = text;
    els.status.className = "status" + (kind ? " " + kind : "");
  }

  // --- toasts and alerts -------------------------------------------------------------

  function toast(text, kind = "") {
    const node = el("div", { class: "toast" + (kind ? " " + kind : ""), role: "status", text });
    els.toasts.append(node);
    // Fade out after 3 s, then remove.
    setTimeout(() => node.classList.add("fade"), 3000);
    setTimeout(() => node.remove(), 3600);
  }

  function showModal(text) {
    state.modalQueue.push(text);
    if (els.modal.hidden) nextModal();
  }

  function nextModal() {
    if (state.modalQueue.length === 0) {
      els.modal.hidden = true;
      if (state.current && !els.input.disabled) els.input.focus();
      return;
    }
    els.modalFrom.textContent = state.botName;
    els.modalText.textContent = state.modalQueue.shift();
    els.modal.hidden = false;
    els.modalOk.focus();
  }

  els.modalOk.addEventListener("click", nextModal);
  els.modal.addEventListener("keydown", (event) => {
    if (event.key === "Escape" || event.key === "Enter") {
      event.preventDefault();
      nextModal();
    }
  });

  function handleAlerts(userId, alerts, first) {
    let shown = state.shownAlerts.get(userId);
    const seedOnly = !shown && first; // first time this page sees this chat: old answers are history
    if (!shown) {
      shown = new Set();
      state.shownAlerts.set(userId, shown);
    }
    for (const alert of alerts || []) {
      const id = String(alert.id);
      if (shown.has(id)) continue;
      shown.add(id);
      if (seedOnly || !alert.text) continue;
      if (alert.show_alert) showModal(alert.text);
      else toast(alert.text);
    }
  }

  // --- personas ----------------------------------------------------------------------

  async function loadPersonas() {
    for (;;) {
      try {
        const response = await fetch("api/personas");
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const data = await response.json();
        state.botName = data.bot_name || state.botName;
        state.personas = Array.isArray(data.personas) ? data.personas : [];
        state.schools = Array.isArray(data.schools) ? data.schools : [];
        renderPersonas();
        return;
      } catch (error) {
        els.personas.replaceChildren(
          el("p", { class: "loading error", text: "Kan de personen niet laden; opnieuw proberen…" })
        );
        await sleep(1000);
      }
    }
  }

  function renderPersonas() {
    els.botName.textContent = state.botName;
    if (state.personas.length === 0) {
      els.personas.replaceChildren(el("p", { class: "loading", text: "Er zijn geen personen ingesteld." }));
      return;
    }
    const cards = state.personas.map((p) => {
      const code = p.code
        ? el(
            "span",
            { class: "persona-code" },
            el("span", { class: "persona-code-hint", text: "Koppelcode (typ deze in de chat)" }),
            el("code", { text: p.code })
          )
        : null;
      const button = el(
        "button",
        { type: "button", class: "persona", "data-user-id": p.user_id, "aria-pressed": "false" },
        el("span", { class: "avatar", "aria-hidden": "true", text: initials(p.name) }),
        el(
          "span",
          { class: "persona-body" },
          el("span", { class: "persona-name", text: p.name }),
          el("span", { class: "persona-desc", text: p.description || "" }),
          code
        )
      );
      button.addEventListener("click", () => choosePersona(p));
      return button;
    });
    // The demo's board has two schools, each with its own bot: one page per school.
    const schools = (state.schools || []).length > 1
      ? [el(
          "nav",
          { class: "schools", "aria-label": "Scholen" },
          ...state.schools.map((s) =>
            s.current
              ? el("strong", { class: "school current", text: s.name })
              : el("a", { class: "school", href: s.url, text: s.name })
          )
        )]
      : [];
    els.personas.replaceChildren(...schools, ...cards);
    markActivePersona();
  }

  function initials(name) {
    const parts = String(name || "?").trim().split(/\s+/);
    const first = parts[0] ? parts[0][0] : "?";
    const last = parts.length > 1 ? parts[parts.length - 1][0] : "";
    return (first + last).toUpperCase();
  }

  function markActivePersona() {
    for (const card of els.personas.querySelectorAll(".persona")) {
      const active = state.current && card.dataset.userId === String(state.current.user_id);
      card.classList.toggle("active", Boolean(active));
      card.setAttribute("aria-pressed", active ? "true" : "false");
    }
  }

  function choosePersona(persona) {
    if (state.session) state.session.stop();
    state.session = null;
    state.current = persona;
    state.rendered = new Map();
    document.body.classList.toggle("chosen", Boolean(persona));
    markActivePersona();

    if (!persona) {
      els.current.textContent = "Nog geen persoon gekozen";
      els.currentDesc.textContent = "";
      els.codebar.hidden = true;
      els.messages.replaceChildren(
        el("p", { class: "placeholder", text: "Kies links een persoon om te beginnen." })
      );
      els.input.disabled = true;
      els.send.disabled = true;
      els.toasts.replaceChildren();
      setStatus("");
      if (location.hash) history.replaceState(null, "", location.pathname + location.search);
      return;
    }

    els.current.textContent = persona.name;
    els.currentDesc.textContent = persona.description || "";
    els.codebar.hidden = !persona.code;
    els.codebarCode.textContent = persona.code || "";
    els.messages.replaceChildren(el("p", { class: "placeholder", text: "Chat laden…" }));
    els.toasts.replaceChildren();
    els.input.disabled = false;
    els.send.disabled = false;
    els.input.value = "";
    autoGrow();
    history.replaceState(null, "", "#" + persona.user_id);
    if (window.matchMedia("(min-width: 721px)").matches) els.input.focus();

    const session = newSession(persona.user_id);
    state.session = session;
    state.forceScroll = true;
    poll(session);
  }

  els.back.addEventListener("click", () => {
    choosePersona(null);
    const first = els.personas.querySelector(".persona");
    if (first) first.focus();
  });

  // --- long poll ---------------------------------------------------------------------

  function newSession(userId) {
    return {
      userId,
      stopped: false,
      first: true,
      responses: 0, // answers received so far
      request: null, // AbortController of the running request
      kicked: false,
      stop() {
        this.stopped = true;
        if (this.request) this.request.abort();
      },
      // Drops the running request and asks again from scratch (version -1).
      kick() {
        this.kicked = true;
        if (this.request) this.request.abort();
      },
    };
  }

  async function poll(session) {
    // The server answers once the chat's version is above `since`; a chat nobody wrote
    // in yet has version 0, so the first request asks with -1 to get an answer at once.
    let version = -1;
    while (state.session === session && !session.stopped) {
      const request = new AbortController();
      session.request = request;
      session.kicked = false;
      try {
        const url = `api/chats/${encodeURIComponent(session.userId)}/messages?since=${version}`;
        const response = await fetch(url, { signal: request.signal, cache: "no-store" });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const data = await response.json();
        if (state.session !== session || session.stopped) return;
        session.responses += 1;
        setStatus("verbonden", "ok");
        version = Number.isFinite(data.version) ? data.version : -1;
        renderMessages(Array.isArray(data.messages) ? data.messages : []);
        handleAlerts(session.userId, Array.isArray(data.alerts) ? data.alerts : [], session.first);
        session.first = false;
      } catch (error) {
        if (session.stopped || state.session !== session) return;
        // A restarted server counts versions from 0 again: ask for everything next time.
        version = -1;
        if (session.kicked) continue;
        setStatus("geen verbinding…", "bad");
        await sleep(1000);
      }
    }
  }

  // After a send or a press the chat must change soon (the server stores the user's own
  // message at once). If no answer came within 2 s, the poll may be waiting on a version
  // from before a server restart: start it afresh.
  function expectChange() {
    const session = state.session;
    if (!session) return;
    const seen = session.responses;
    setTimeout(() => {
      if (state.session === session && !session.stopped && session.responses === seen) session.kick();
    }, 2000);
  }

  // --- rendering messages ------------------------------------------------------------

  function isAtBottom() {
    const m = els.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 40;
  }

  function scrollToBottom() {
    els.messages.scrollTop = els.messages.scrollHeight;
  }

  function renderMessages(messages) {
    const stick = state.forceScroll || isAtBottom();
    state.forceScroll = false;

    if (messages.length === 0) {
      state.rendered = new Map();
      els.messages.replaceChildren(
        el("p", {
          class: "placeholder",
          text: "Nog geen berichten. Typ /start of de koppelcode om te beginnen.",
        })
      );
      return;
    }

    // Keep the DOM node of a message that did not change (so a button someone is about
    // to click stays the same element); rebuild the others.
    const next = new Map();
    const wanted = [];
    for (const message of messages) {
      const id = String(message.message_id);
      const sig = JSON.stringify([message.from, message.html, message.buttons, message.document, message.edited]);
      let entry = state.rendered.get(id);
      if (!entry || entry.sig !== sig) entry = { sig, el: buildMessage(message) };
      next.set(id, entry);
      wanted.push(entry.el);
    }
    const keep = new Set(wanted);
    for (const child of [...els.messages.childNodes]) {
      if (!keep.has(child)) child.remove();
    }
    let ref = els.messages.firstChild;
    for (const node of wanted) {
      if (node === ref) ref = ref.nextSibling;
      else els.messages.insertBefore(node, ref);
    }
    state.rendered = next;

    if (stick) scrollToBottom();
  }

  // A file icon drawn inline: the demo machine may have no emoji font.
  function docIcon() {
    const icon = el("span", { class: "doc-icon", "aria-hidden": "true" });
    icon.innerHTML =
      '<svg viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="#fff" stroke-width="1.8" ' +
      'stroke-linejoin="round"><path d="M6 2.5h8l4.5 4.5v14.5h-12.5z"/><path d="M14 2.5v4.5h4.5"/>' +
      '<path d="M9 12h6M9 15.5h6"/></svg>';
    return icon;
  }

  // The emoji the bot uses, painted by CSS: the demo machine may have no emoji font and
  // would show empty boxes. The character stays in the page (copying, screen readers).
  const EMOJI_CLASS = {
    "\u2705": "emoji-check",
    "\u274C": "emoji-cross",
    "\u26A0": "emoji-warning",
    "\u26D4": "emoji-stop",
    "\u{1F512}": "emoji-lock",
  };
  const EMOJI_SPLIT = /(\u26A0\uFE0F?|\u2705|\u274C|\u26D4\uFE0F?|\u{1F512})/u;

  function paintEmoji(root) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const found = [];
    while (walker.nextNode()) {
      if (EMOJI_SPLIT.test(walker.currentNode.nodeValue)) found.push(walker.currentNode);
    }
    for (const node of found) {
      const parts = node.nodeValue.split(EMOJI_SPLIT);
      const fragment = document.createDocumentFragment();
      parts.forEach((part, index) => {
        if (!part) return;
        if (index % 2 === 1) {
          const css = EMOJI_CLASS[part.replace("\uFE0F", "")];
          fragment.append(el("span", { class: `emoji ${css}`, text: part }));
        } else {
          fragment.append(document.createTextNode(part));
        }
      });
      node.replaceWith(fragment);
    }
  }

  function buildMessage(message) {
    const from = message.from === "user" ? "user" : "bot";
    const id = message.message_id;
    const bubble = el("div", { class: "bubble" });

    if (message.document) {
      const doc = message.document;
      const name = doc.file_name || "bestand";
      bubble.append(
        el(
          "div",
          { class: "document" },
          docIcon(),
          el(
            "span",
            { class: "doc-body" },
            el("a", { class: "doc-link", href: doc.url, download: name, text: name }),
            el("a", {
              class: "doc-open",
              href: doc.url,
              target: "_blank",
              rel: "noopener",
              text: "Openen",
            })
          )
        )
      );
    }

    const text = el("div", { class: "text" });
    text.innerHTML = message.html || "";
    for (const link of text.querySelectorAll("a[href]")) {
      link.target = "_blank";
      link.rel = "noopener";
    }
    for (const spoiler of text.querySelectorAll(".spoiler")) {
      spoiler.title = "Klik om te tonen";
      spoiler.addEventListener("click", () => spoiler.classList.add("revealed"));
    }
    paintEmoji(text);
    bubble.append(text);
    if (message.edited) bubble.append(el("div", { class: "meta", text: "bewerkt" }));

    const node = el("div", { class: `msg ${from}`, "data-message-id": id }, bubble);

    const rows = Array.isArray(message.buttons) ? message.buttons : [];
    if (rows.length > 0) {
      const keyboard = el("div", { class: "keyboard" });
      for (const row of rows) {
        const rowEl = el("div", { class: "kb-row" });
        for (const b of row || []) {
          if (b.web_app) {
            // A Mini App: opens in a phone-sized panel, as Telegram opens it.
            const button = el("button", {
              type: "button",
              class: "kb kb-webapp",
              "data-message-id": id,
              "data-web-app": b.web_app,
              text: b.text,
            });
            button.addEventListener("click", () => openWebApp(b.web_app, button));
            rowEl.append(button);
          } else if (b.data === undefined || b.data === null) {
            // A url button; other kinds (login, inline query) arrive with an empty url
            // and cannot work in the demo.
            rowEl.append(
              b.url
                ? el("a", {
                    class: "kb-url",
                    href: b.url,
                    target: "_blank",
                    rel: "noopener",
                    "data-message-id": id,
                    text: b.text,
                  })
                : el("a", {
                    class: "kb-url disabled",
                    "aria-disabled": "true",
                    title: "Werkt niet in de demo",
                    "data-message-id": id,
                    text: b.text,
                  })
            );
          } else {
            const button = el("button", {
              type: "button",
              class: "kb",
              "data-message-id": id,
              "data-data": b.data,
              text: b.text,
            });
            button.addEventListener("click", () => press(id, b.data, button));
            rowEl.append(button);
          }
        }
        keyboard.append(rowEl);
      }
      paintEmoji(keyboard);
      node.append(keyboard);
    }
    return node;
  }

  // --- sending and pressing ----------------------------------------------------------

  async function press(messageId, data, button) {
    const persona = state.current;
    if (!persona) return;
    button.classList.add("pending");
    try {
      const result = await postJson(`api/chats/${encodeURIComponent(persona.user_id)}/press`, {
        message_id: messageId,
        data,
      });
      if (state.current === persona) {
        if (result.ok) expectChange();
        else toast(result.error || "Dat lukte niet.", "error");
      }
    } catch (error) {
      if (state.current === persona) toast("Geen verbinding met de demo-server.", "error");
    } finally {
      button.classList.remove("pending");
    }
  }

  // --- Mini Apps (web_app buttons) --------------------------------------------------------

  async function openWebApp(url, button) {
    const persona = state.current;
    if (!persona) return;
    button.classList.add("pending");
    try {
      // Signed by the demo bot's own token, for this persona, as Telegram signs it.
      const result = await postJson(`api/chats/${encodeURIComponent(persona.user_id)}/webapp`, {});
      if (!result.init_data) {
        toast(result.error || "Dat lukte niet.", "error");
        return;
      }
      const data = new URLSearchParams({
        tgWebAppData: result.init_data,
        tgWebAppVersion: "8.0",
        tgWebAppPlatform: "weba",
      });
      els.webFrame.src = `${url}#${data.toString()}`;
      els.webPanel.hidden = false;
      els.webClose.focus();
    } catch (error) {
      toast("Geen verbinding met de demo-server.", "error");
    } finally {
      button.classList.remove("pending");
    }
  }

  function closeWebApp() {
    els.webPanel.hidden = true;
    els.webFrame.src = "about:blank";
  }

  els.webClose.addEventListener("click", closeWebApp);
  els.webPanel.addEventListener("click", (event) => {
    if (event.target === els.webPanel) closeWebApp();
  });

  async function sendText() {
    const persona = state.current;
    if (!persona || state.sending) return;
    const text = els.input.value;
    if (!text.trim()) {
      els.input.focus();
      return;
    }
    state.sending = true;
    els.send.disabled = true;
    try {
      const result = await postJson(`api/chats/${encodeURIComponent(persona.user_id)}/send`, { text });
      if (state.current !== persona) return;
      if (result.ok) {
        if (els.input.value === text) els.input.value = "";
        autoGrow();
        state.forceScroll = true;
        expectChange();
      } else {
        toast(result.error || "Versturen lukte niet.", "error");
      }
    } catch (error) {
      if (state.current === persona) toast("Geen verbinding met de demo-server.", "error");
    } finally {
      state.sending = false;
      els.send.disabled = !state.current;
      if (state.current) els.input.focus();
    }
  }

  els.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    sendText();
  });

  els.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendText();
    }
  });

  function autoGrow() {
    els.input.style.height = "auto";
    els.input.style.height = Math.min(els.input.scrollHeight, 140) + "px";
  }
  els.input.addEventListener("input", autoGrow);

  els.useCode.addEventListener("click", () => {
    if (!state.current || !state.current.code) return;
    els.input.value = state.current.code;
    autoGrow();
    els.input.focus();
  });

  // --- start ---------------------------------------------------------------------------

  loadPersonas().then(() => {
    const wanted = location.hash.replace(/^#/, "");
    if (!wanted) return;
    const persona = state.personas.find((p) => String(p.user_id) === wanted);
    if (persona) choosePersona(persona);
  });
})();
