// The follower simulator page: plain fetch + polling. Everything shown goes through textContent, never
// innerHTML: follower text, replies and pushes are untrusted.
"use strict";

(function () {
  const POLL_MS = 1500;
  const el = (id) => document.getElementById(id);
  let current = null;
  let lastChat = "";
  let lastSms = "";
  let lastMenu = "";
  let timer = null;
  // The page's words, translated on the server (see sandbox/page.py: script_texts).
  const TEXTS = JSON.parse(el("texts").textContent);
  const say = (name, values) => Object.entries(values || {}).reduce(
    (text, [key, value]) => text.split("{" + key + "}").join(String(value)), TEXTS[name] || name);

  function node(tag, className, text) {
    const item = document.createElement(tag);
    if (className) item.className = className;
    if (text !== undefined) item.textContent = text;
    return item;
  }

  function showProblem(message) {
    const box = el("problem");
    box.textContent = message || "";
    box.hidden = !message;
  }

  async function request(path, body) {
    const options = body === undefined ? {} : {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    };
    const response = await fetch(path, options);
    let payload = {};
    try { payload = await response.json(); } catch (_error) { payload = {}; }
    if (!response.ok) throw new Error(payload.error || say("http_error", { status: response.status }));
    return payload;
  }

  function followerPath(openid, rest) {
    return "api/followers/" + encodeURIComponent(openid) + "/" + rest;
  }

  function renderFollowers(followers) {
    const list = el("followers");
    list.replaceChildren();
    if (!followers.length) list.append(node("li", "muted", say("no_followers")));
    for (const follower of followers) {
      const button = node("button", follower.openid === (current && current.openid) ? "current" : "");
      button.type = "button";
      button.append(node("span", "", follower.label + (follower.subscribed ? "" : say("not_following_suffix"))));
      button.append(node("span", "detail", follower.openid));
      button.addEventListener("click", () => select(follower));
      const item = node("li");
      item.append(button);
      list.append(item);
      if (current && follower.openid === current.openid) current = follower;
    }
    updateHead();
  }

  function renderMenu(buttons) {
    const key = JSON.stringify(buttons);
    if (key === lastMenu) return;
    lastMenu = key;
    const menu = el("menu");
    menu.replaceChildren();
    let group = null;
    for (const entry of buttons) {
      // Sub buttons sit together under their top-level button's name, as WeChat pops them up.
      if (entry.group && (!group || group.dataset.name !== entry.group)) {
        group = node("span", "menu-group");
        group.dataset.name = entry.group;
        group.append(node("span", "muted", entry.group + ":"));
        menu.append(group);
      } else if (!entry.group) {
        group = null;
      }
      const button = node("button", "menu-button", entry.name || entry.key);
      button.type = "button";
      button.dataset.type = entry.type;
      button.title = entry.type === "view" ? entry.url : entry.key;
      if (entry.type === "view") {
        button.addEventListener("click", () => {
          // WeChat tells the account (VIEW event) as its browser opens the link; opened within the tap,
          // so no popup blocker stops it.
          window.open(entry.url, "_blank", "noopener");
          act({ action: "view", url: entry.url });
        });
      } else {
        button.addEventListener("click", () => act({ action: "click", key: entry.key }));
      }
      (group || menu).append(button);
    }
  }

  function renderSms(messages) {
    const key = JSON.stringify(messages);
    if (key === lastSms) return;
    lastSms = key;
    const list = el("sms");
    list.replaceChildren();
    if (!messages.length) list.append(node("li", "muted", say("no_sms")));
    for (const sms of messages) {
      const item = node("li");
      item.append(node("span", "meta", say("sms_to", { time: sms.at, phone: sms.to })));
      item.append(node("span", "detail", sms.text));
      list.append(item);
    }
  }

  function renderChat(entries) {
    const key = JSON.stringify(entries);
    if (key === lastChat) return;
    lastChat = key;
    const chat = el("chat");
    chat.replaceChildren();
    for (const entry of entries) {
      const item = node("li", entry.side + (entry.source === "push" ? " push" : ""));
      const bubble = node("div", "bubble");
      bubble.append(node("span", entry.kind === "news" ? "title" : "", entry.text));
      for (const line of entry.detail) bubble.append(node("span", "detail", line));
      const who = { you: say("you"), reply: say("reply"), push: say("push"), system: say("note") }[entry.source] || entry.source;
      item.append(bubble, node("span", "meta", entry.time + " - " + who + " (" + entry.kind + ")"));
      chat.append(item);
    }
    chat.scrollTop = chat.scrollHeight;
  }

  function updateHead() {
    el("who").textContent = current ? current.label : say("pick");
    el("status").textContent = current ? current.openid + " - " + say(current.subscribed ? "following" : "not_following") : "";
    el("controls").hidden = !current;
  }

  function renderClock(clock) {
    if (!clock) return;
    el("clock-now").textContent = clock.now_china;
    const pending = clock.takes_effect_in > 0 ? " - " + say("jumping", { seconds: clock.takes_effect_in.toFixed(1) }) : "";
    el("clock-speed").textContent = (clock.speed === 1 ? say("real_speed") : say("speed", { speed: clock.speed })) + pending;
    el("advance-day").hidden = clock.controllable === false;
  }

  async function refreshClock() {
    renderClock(await request("api/clock"));
  }

  async function refreshState() {
    const state = await request("api/state");
    renderClock(state.clock);
    renderFollowers(state.followers);
    renderMenu(state.menu);
    renderSms(state.sms);
  }

  async function refreshChat() {
    if (!current) return;
    const chat = await request(followerPath(current.openid, "chat"));
    renderChat(chat.entries);
    renderSms(chat.sms);
  }

  function select(follower) {
    current = follower;
    document.body.dataset.openid = follower.openid; // read by links.js
    lastChat = "";
    updateHead();
    refreshState().then(refreshChat).catch((error) => showProblem(error.message));
    if (timer) clearInterval(timer);
    timer = setInterval(() => refreshChat().catch((error) => showProblem(error.message)), POLL_MS);
  }

  async function act(body) {
    if (!current) return;
    showProblem("");
    try {
      await request(followerPath(current.openid, "actions"), Object.assign({ mode: el("mode").value }, body));
      await refreshState();
      await refreshChat();
    } catch (error) {
      showProblem(error.message);
    }
  }

  document.querySelectorAll("[data-action]").forEach((button) => {
    button.addEventListener("click", () => {
      const action = button.dataset.action;
      if (action === "click") return act({ action, key: el("menu-key").value });
      if (action === "scan" || action === "follow") return act({ action, scene: el("scene").value });
      return act({ action });
    });
  });

  el("send-text").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = el("text").value;
    if (!text.trim()) return;
    el("text").value = "";
    act({ action: "text", content: text });
  });

  el("create-follower").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    showProblem("");
    try {
      const follower = await request("api/followers", { label: form.label.value, openid: form.openid.value });
      form.reset();
      select(follower);
    } catch (error) {
      showProblem(error.message);
    }
  });

  el("advance-day").addEventListener("click", async () => {
    showProblem("");
    try {
      renderClock(await request("api/clock/advance", { days: 1 }));
    } catch (error) {
      showProblem(error.message);
    }
  });

  setInterval(() => refreshClock().catch(() => {}), 1000);
  refreshState().catch((error) => showProblem(error.message));
})();
