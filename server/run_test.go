package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/mriworkbench/workbench/store"
)

// Run stops on cancellation even with a websocket client connected, which http.Server.Shutdown alone would
// not close.
func TestRunShutsDownWithWebsocketClients(t *testing.T) {
	st, err := store.Open(t.TempDir(), os.DirFS("../migrations"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := st.CreateProject(context.Background(), "run", []store.Class{{Name: "gm", Color: "#00ff00"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Addr: "127.0.0.1:0", Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, func(addr string) { addrc <- addr }) }()
	addr := <-addrc

	resp, err := http.Get("http://" + addr + "/api/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/api/projects/"+strconv.FormatInt(p.ID, 10)+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = conn.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("websocket after shutdown: %v, want a going-away close", err)
	}
}
