// Server events of a project over a websocket, reconnecting with backoff.
import type { Id } from "./api";
import { backoffDelay } from "./lib/backoff";
import { parseServerEvent, type ServerEvent } from "./serverevents";

export type Connection = "connecting" | "live" | "reconnecting";

export class ProjectEvents {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;

  constructor(
    private readonly pid: Id,
    private readonly onEvent: (e: ServerEvent) => void,
    private readonly onConnection: (c: Connection, retryMs?: number) => void = () => {},
    private readonly onReconnect: () => void = () => {},
  ) {
    this.connect();
  }

  private connect(): void {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/api/projects/${this.pid}/events`);
    this.ws = ws;
    this.onConnection(this.attempt === 0 ? "connecting" : "reconnecting");
    ws.onopen = () => {
      // Events missed while disconnected are not replayed: the owner reloads what it shows.
      if (this.attempt > 0) this.onReconnect();
      this.attempt = 0;
      this.onConnection("live");
    };
    ws.onmessage = (m) => {
      // Malformed messages, and a newer server's events this page does not know, are ignored.
      const ev = parseServerEvent(String(m.data));
      if (!ev) return;
      try {
        this.onEvent(ev);
      } catch {
        // as before, an event the page fails to apply is dropped here
      }
    };
    ws.onclose = () => {
      if (this.closed) return;
      const delay = backoffDelay(this.attempt++, 500, 15000, 0.3);
      this.onConnection("reconnecting", delay);
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close();
  }
}
