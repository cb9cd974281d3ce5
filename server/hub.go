package server

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/mriworkbench/workbench/internal/event"
)

// Websocket timings: a client must answer a ping within pongWait, and a single write may take at most writeWait.
const (
	writeWait      = 10 * time.Second
	pongWait       = 60 * time.Second
	pingPeriod     = pongWait * 9 / 10
	clientBuffer   = 256 // events queued per client before it counts as too slow and is dropped
	maxClientFrame = 4096
)

// Hub fans server events out to the websocket clients of each project. A client that does not keep up (its
// buffer is full) is disconnected rather than allowed to block publishers; the app reconnects and reloads.
type Hub struct {
	log      *slog.Logger
	upgrader websocket.Upgrader

	mu      sync.Mutex
	clients map[int64]map[*wsClient]struct{}
	closed  bool
}

type wsClient struct {
	conn      *websocket.Conn
	send      chan []byte
	closeOnce sync.Once
}

// NewHub returns an empty hub.
func NewHub(log *slog.Logger) *Hub {
	h := &Hub{log: log, clients: make(map[int64]map[*wsClient]struct{})}
	h.upgrader = websocket.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferSize: 4096,
		CheckOrigin:     checkOrigin,
	}
	return h
}

// checkOrigin accepts browsers on the server's own origin and, when the server itself is addressed on a
// loopback host, pages served by a local development server on another port. Clients that send no Origin
// (not browsers) are accepted: the origin check protects browsers from cross-site pages, nothing more.
func checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if u.Host == r.Host {
		return true
	}
	return isLoopbackHost(hostOnly(u.Host)) && isLoopbackHost(hostOnly(r.Host))
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Publish sends e, marshalled to JSON, to every client watching projectID. It never blocks.
func (h *Hub) Publish(projectID int64, e event.Event) {
	msg, err := json.Marshal(e)
	if err != nil {
		h.log.Error("cannot marshal server event", "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients[projectID] {
		select {
		case c.send <- msg:
		default:
			h.log.Warn("dropping slow websocket client", "project", projectID, "remote", c.conn.RemoteAddr().String())
			h.removeLocked(projectID, c)
		}
	}
}

// Clients reports how many clients watch projectID.
func (h *Hub) Clients(projectID int64) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients[projectID])
}

// Close disconnects every client; later connections are refused. Called on server shutdown, because
// http.Server.Shutdown does not wait for or close hijacked connections.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for pid, set := range h.clients {
		for c := range set {
			h.removeLocked(pid, c)
		}
	}
}

// serve upgrades the request and pumps events to the client until it goes away.
func (h *Hub) serve(w http.ResponseWriter, r *http.Request, projectID int64) error {
	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil // the upgrader has already answered with an HTTP error
	}
	c := &wsClient{conn: conn, send: make(chan []byte, clientBuffer)}
	if !h.add(projectID, c) {
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(writeWait))
		_ = conn.Close()
		return nil
	}
	go h.writePump(projectID, c)
	h.readPump(projectID, c)
	return nil
}

func (h *Hub) add(projectID int64, c *wsClient) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	set := h.clients[projectID]
	if set == nil {
		set = make(map[*wsClient]struct{})
		h.clients[projectID] = set
	}
	set[c] = struct{}{}
	return true
}

func (h *Hub) remove(projectID int64, c *wsClient) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(projectID, c)
}

// removeLocked unregisters c and closes its queue, which makes its writer close the connection.
func (h *Hub) removeLocked(projectID int64, c *wsClient) {
	set := h.clients[projectID]
	if _, ok := set[c]; !ok {
		return
	}
	delete(set, c)
	if len(set) == 0 {
		delete(h.clients, projectID)
	}
	close(c.send)
}

// readPump consumes what the client sends (only control frames matter) so pongs and close frames are seen.
func (h *Hub) readPump(projectID int64, c *wsClient) {
	defer func() {
		h.remove(projectID, c)
		c.close()
	}()
	c.conn.SetReadLimit(maxClientFrame)
	_ = c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		if _, _, err := c.conn.ReadMessage(); err != nil {
			return
		}
	}
}

// writePump is the connection's only writer: queued events, and pings to detect dead peers.
func (h *Hub) writePump(projectID int64, c *wsClient) {
	ticker := time.NewTicker(pingPeriod)
	defer func() {
		ticker.Stop()
		h.remove(projectID, c)
		c.close()
	}()
	for {
		select {
		case msg, ok := <-c.send:
			_ = c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if !ok {
				_ = c.conn.WriteMessage(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseGoingAway, "disconnected by server"))
				return
			}
			if err := c.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				return
			}
		case <-ticker.C:
			_ = c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

func (c *wsClient) close() { c.closeOnce.Do(func() { _ = c.conn.Close() }) }
