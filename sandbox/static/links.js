// Tracked links in the simulator's chat become clickable: each opens through /sandbox/open as the
// follower being simulated (document.body.dataset.openid, set when a follower is picked), so the
// gateway's web authorization learns who clicked, as WeChat's browser would tell it.
(function () {
  "use strict";
  const TRACKED = /(?:https?:\/\/[^\s\/]+)?\/l\/[A-Za-z0-9_-]{20,64}/g;

  function linkify(span) {
    const text = span.textContent;
    const openid = document.body.dataset.openid;
    if (!openid || span.dataset.linked || !TRACKED.test(text)) return;
    TRACKED.lastIndex = 0;
    span.dataset.linked = "1";
    const parts = [];
    let last = 0;
    for (const match of text.matchAll(TRACKED)) {
      parts.push(document.createTextNode(text.slice(last, match.index)));
      const link = document.createElement("a");
      link.href = "open?openid=" + encodeURIComponent(openid) + "&url=" + encodeURIComponent(match[0]);
      link.target = "_blank";
      link.rel = "noopener";
      link.className = "tracked-link";
      link.textContent = match[0];
      parts.push(link);
      last = match.index + match[0].length;
    }
    parts.push(document.createTextNode(text.slice(last)));
    span.replaceChildren(...parts);
  }

  function linkifyChat() {
    const chat = document.getElementById("chat");
    if (chat) chat.querySelectorAll(".bubble span").forEach(linkify);
  }

  const chat = document.getElementById("chat");
  if (chat) new MutationObserver(linkifyChat).observe(chat, { childList: true, subtree: true });
})();
