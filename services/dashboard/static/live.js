"use strict";
// The live updates: every bar and signal the processor commits, from the WebSocket /ws (docs/
// dashboard.md, "WebSocket /ws"). `hello` resolves once the server has said where the stream
// starts; a dropped connection reconnects with `after=<last id>` (backoff 0.5 s doubling to 10 s)
// and continues where it stopped. The header's status says which. app.js passes what to do with
// each event, and with a `reset` (what was missed could not be resumed: reload from REST).

window.TickflowLive = (() => {
  const $ = (id) => document.getElementById(id);
  const state = {
    lastId: null,          // last event id seen: where a reconnect resumes
    retryMs: 500,
  };
  let onEvent = null;
  let onReset = null;

  function setStatus(cls, text) {
    $("status").className = `status ${cls}`;
    $("status").textContent = text;
  }

  let helloSeen;
  const hello = new Promise((resolve) => { helloSeen = resolve; });

  function connect() {
    const url = new URL("/ws", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (state.lastId !== null) url.searchParams.set("after", state.lastId);
    const ws = new WebSocket(url);
    ws.onopen = () => { state.retryMs = 500; setStatus("live", "live"); };
    ws.onmessage = (message) => {
      const msg = JSON.parse(message.data);
      if (msg.type === "hello") {
        if (state.lastId === null) state.lastId = msg.head;
        helloSeen();
      } else if (msg.type === "events") {
        msg.events.forEach(onEvent);
        state.lastId = msg.last_id;
        setStatus("live", `live · feed #${state.lastId}`);
      } else if (msg.type === "heartbeat") {
        state.lastId = Math.max(state.lastId ?? 0, msg.last_id);
      } else if (msg.type === "reset") {   // could not resume (pruned): reload from REST
        state.lastId = msg.head;
        onReset();
      } else if (msg.type === "error") {
        console.error("feed:", msg.detail);
      }
    };
    ws.onclose = () => {
      setStatus("down", `reconnecting in ${(state.retryMs / 1000).toFixed(1)} s…`);
      setTimeout(connect, state.retryMs);
      state.retryMs = Math.min(state.retryMs * 2, 10000);
    };
  }

  function start(eventHandler, resetHandler) {
    onEvent = eventHandler;
    onReset = resetHandler;
    connect();
  }

  return { start, hello, lastId: () => state.lastId };
})();
