package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/mriworkbench/workbench/internal/event"
)

func (e *testEnv) dialEvents(projectID int64, origin string) (*websocket.Conn, *http.Response, error) {
	url := "ws" + strings.TrimPrefix(e.http.URL, "http") + fmt.Sprintf("/api/projects/%d/events", projectID)
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	return websocket.DefaultDialer.Dial(url, h)
}

func (e *testEnv) mustDial(projectID int64) *websocket.Conn {
	e.t.Helper()
	conn, _, err := e.dialEvents(projectID, e.http.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	// The hub registers the client after the handshake; wait until it has, so no event is missed.
	deadline := time.Now().Add(5 * time.Second)
	for e.srv.Hub().Clients(projectID) == 0 || !e.registered(projectID, conn) {
		if time.Now().After(deadline) {
			e.t.Fatal("websocket client was not registered")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return conn
}

// registered reports whether the hub holds a client whose remote end is conn.
func (e *testEnv) registered(projectID int64, conn *websocket.Conn) bool {
	h := e.srv.Hub()
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients[projectID] {
		if c.conn.RemoteAddr().String() == conn.LocalAddr().String() {
			return true
		}
	}
	return false
}

func readEvent(t *testing.T, conn *websocket.Conn, dst any) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, msg, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("reading event: %v", err)
	}
	if err := json.Unmarshal(msg, dst); err != nil {
		t.Fatalf("event %s: %v", msg, err)
	}
}

func TestEventsReachOtherClientsOfTheProject(t *testing.T) {
	e := newTestEnv(t)
	p := e.createProject("events", "wm", "gm")
	other := e.createProject("other", "wm")
	tabA := e.mustDial(p.ID)
	tabB := e.mustDial(p.ID)
	elsewhere := e.mustDial(other.ID)

	v := e.uploadVolume(p.ID, t2sPath)
	for _, conn := range []*websocket.Conn{tabA, tabB} {
		var ev struct {
			Type   string
			Volume event.VolumeSummary
		}
		readEvent(t, conn, &ev)
		if ev.Type != event.TypeVolume || ev.Volume.ID != v.ID || ev.Volume.Name != "t2s" {
			t.Fatalf("volume event %+v", ev)
		}
	}

	mask := make([]byte, v.Shape[0]*v.Shape[1])
	mask[0] = 2
	e.putMask(v.ID, 4, 0, mask, map[string]string{"X-Author": "ann"}).expect(t, http.StatusOK)
	type labelEvent struct {
		Type string
		event.Label
	}
	var ev labelEvent
	readEvent(t, tabB, &ev)
	want := labelEvent{Type: event.TypeLabel, Label: event.Label{VolumeID: v.ID, Slice: 4, Version: 1, Author: "ann", Origin: "manual"}}
	if ev != want {
		t.Fatalf("tab B got %+v, want %+v", ev, want)
	}
	e.sendJSON(http.MethodPut, fmt.Sprintf("/api/volumes/%d/slices/4/verified", v.ID), map[string]any{"verified": true, "baseVersion": 1}).
		expect(t, http.StatusOK)
	e.do(http.MethodDelete, fmt.Sprintf("/api/volumes/%d/slices/4/label?baseVersion=2", v.ID), nil, nil).expect(t, http.StatusOK)
	readEvent(t, tabB, &ev)
	if !ev.Verified || ev.Version != 2 {
		t.Fatalf("verify event %+v", ev)
	}
	readEvent(t, tabB, &ev)
	if !ev.Deleted || ev.Version != 3 {
		t.Fatalf("delete event %+v", ev)
	}

	// The other project's client saw none of this: the first event it gets is its own project's.
	e.srv.Hub().Publish(other.ID, event.ActiveModel{ModelID: 424242})
	var probe map[string]any
	readEvent(t, elsewhere, &probe)
	if probe["type"] != event.TypeActiveModel || probe["modelId"] != 424242.0 {
		t.Fatalf("client of another project received %v", probe)
	}

	// Shutdown closes the connections.
	e.srv.Hub().Close()
	tabA.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := tabA.ReadMessage(); err != nil {
			if websocket.IsUnexpectedCloseError(err, websocket.CloseGoingAway) {
				t.Fatalf("close after shutdown: %v", err)
			}
			break
		}
	}
}

func TestEventsOriginAndUnknownProject(t *testing.T) {
	e := newTestEnv(t)
	p := e.createProject("origins", "wm")
	if _, resp, err := e.dialEvents(p.ID, "http://evil.example"); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site origin accepted: %v %v", err, resp)
	}
	// The server is addressed on a loopback host here, so a local development server's page may connect.
	conn, _, err := e.dialEvents(p.ID, "http://localhost:5173")
	if err != nil {
		t.Fatalf("local dev origin refused: %v", err)
	}
	conn.Close()
	if _, resp, err := e.dialEvents(999, ""); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown project: %v %v", err, resp)
	}
}

func TestCheckOrigin(t *testing.T) {
	cases := []struct {
		host, origin string
		ok           bool
	}{
		{"lab.example:8080", "", true},
		{"lab.example:8080", "http://lab.example:8080", true},
		{"lab.example:8080", "http://localhost:5173", false},
		{"127.0.0.1:8080", "http://localhost:5173", true},
		{"[::1]:8080", "http://127.0.0.1:3000", true},
		{"127.0.0.1:8080", "http://evil.example", false},
		{"127.0.0.1:8080", "null", false},
	}
	for _, c := range cases {
		r, _ := http.NewRequest(http.MethodGet, "http://"+c.host+"/api/projects/1/events", nil)
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if got := checkOrigin(r); got != c.ok {
			t.Errorf("host %s origin %q: allowed %v, want %v", c.host, c.origin, got, c.ok)
		}
	}
}

// A client that stops reading is disconnected once its queue is full, instead of blocking the publisher or
// holding memory: its connection is closed, while a client that keeps up receives every event in order.
func TestSlowClientIsDropped(t *testing.T) {
	e := newTestEnv(t)
	p := e.createProject("slow", "wm")
	stuck := e.mustDial(p.ID) // never reads until the end
	healthy := e.mustDial(p.ID)
	h := e.srv.Hub()

	received := make(chan int, 1)
	go func() {
		for {
			_, msg, err := healthy.ReadMessage()
			if err != nil {
				close(received)
				return
			}
			var ev map[string]any
			if json.Unmarshal(msg, &ev) == nil {
				received <- int(ev["n"].(float64))
			}
		}
	}()
	// Large events fill the stuck client's socket buffers, then its queue. Each one is published after the
	// healthy client has read the previous one, so only the stuck client can fall behind.
	padding := strings.Repeat("x", 64<<10)
	published := 0
	for h.Clients(p.ID) == 2 {
		if published == 5000 {
			t.Fatalf("a client that never reads was not dropped after %d events of 64 KiB", published)
		}
		start := time.Now()
		h.Publish(p.ID, bulkyEvent{N: published, Padding: padding})
		if d := time.Since(start); d > time.Second {
			t.Fatalf("publishing blocked for %v", d)
		}
		select {
		case n, ok := <-received:
			if !ok || n != published {
				t.Fatalf("healthy client got event %d (open %v), want %d", n, ok, published)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("healthy client did not receive event %d", published)
		}
		published++
	}
	if published <= clientBuffer {
		t.Fatalf("client dropped after %d events, before its queue of %d could fill", published, clientBuffer)
	}
	// The stuck client reads what was queued for it, then the server's close frame, well before any read
	// deadline or ping timeout would have ended the connection; the event that overflowed its queue is lost.
	stuck.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := 0
	var err error
	for {
		if _, _, err = stuck.ReadMessage(); err != nil {
			break
		}
		got++
	}
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("dropped client, after reading %d events: %v, want the server's close frame", got, err)
	}
	if got >= published {
		t.Fatalf("dropped client read all %d events", published)
	}
	// The healthy client stays connected and keeps receiving.
	h.Publish(p.ID, bulkyEvent{N: published})
	if n := <-received; n != published {
		t.Fatalf("healthy client got %d after the drop, want %d", n, published)
	}
}

// bulkyEvent is a test event of any size, numbered.
type bulkyEvent struct {
	N       int    `json:"n"`
	Padding string `json:"padding,omitempty"`
}

func (bulkyEvent) Type() string { return "test" }
