// The WebSocket client. One connection per signed-in tab, on one channel ("board" for staff and
// auditors, "me" for requesters). Each reconnect subscribes with `since` = the last position
// received, so the server replays what was missed; a position already seen is dropped, so a
// replay never shows an event twice.
import * as session from "./session.js";

export class Live {
  /**
   * `onEvent(envelope)` for each new event, `onCaughtUp()` after each (re)subscription (the view
   * reloads then, to cover what happened before the socket was up), `onState(state)` with
   * "live", "connecting" or "offline", `onExpired()` when the server closes for an expired token.
   */
  constructor({ onEvent, onCaughtUp, onState, onExpired }) {
    this.handlers = { onEvent, onCaughtUp, onState, onExpired };
    this.position = null;
    this.socket = null;
    this.stopped = true;
    this.delay = 500;
    this.timer = null;
  }

  start(channel) {
    this.channel = channel;
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000);
    this.socket = null;
  }

  /** Closes the socket as a network drop would (it reconnects by itself). */
  drop() {
    if (this.socket) this.socket.close(4000, "dropped");
  }

  connect() {
    const token = session.token();
    if (!token || this.stopped) return;
    this.handlers.onState("connecting");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}/api/v1/ws?access_token=${encodeURIComponent(token)}`;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      const subscribe = { op: "subscribe", channels: [this.channel] };
      if (this.position !== null) subscribe.since = this.position;
      socket.send(JSON.stringify(subscribe));
    });
    socket.addEventListener("message", (message) => this.receive(message.data));
    socket.addEventListener("close", (close) => {
      if (socket !== this.socket) return;
      this.socket = null;
      if (this.stopped) return;
      this.handlers.onState("offline");
      if (close.code === 1008) {
        this.handlers.onExpired();
        return;
      }
      // 1013 and drops alike: come back with `since`, a little later each time.
      this.timer = setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 8000);
    });
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame.type === "subscribed") {
      this.delay = 500;
      if (this.position === null || frame.position > this.position) this.position = frame.position;
      this.handlers.onState("live");
      this.handlers.onCaughtUp();
    } else if (frame.type === "event" && frame.event) {
      const position = frame.event.position;
      if (this.position !== null && position <= this.position) return;
      this.position = position;
      this.handlers.onEvent(frame.event);
    } else if (frame.type === "error") {
      console.warn("ticketd live:", frame.code, frame.message);
    }
  }
}
