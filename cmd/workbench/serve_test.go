package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Served off loopback over plain HTTP, the server says at start, in one line, that it is open to the network;
// on loopback it says nothing of the kind. Both answer with the security headers.
func TestServeWarnsOffLoopback(t *testing.T) {
	for _, c := range []struct {
		addr string
		warn bool
	}{{"127.0.0.1:0", false}, {"0.0.0.0:0", true}} {
		srv := startServeAt(t, t.TempDir(), c.addr)
		port := srv.addr[strings.LastIndex(srv.addr, ":"):]
		resp, err := http.Get("http://127.0.0.1" + port + "/api/health") // traffic to loopback only
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: health answered without security headers: %v", c.addr, resp.Header)
		}
		// The child writes the warning before the line saying where it serves; its copy into the buffer may lag.
		warnings := 0
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			warnings = strings.Count(srv.stderr.String(), "warning: serving plain HTTP")
			if !c.warn || warnings > 0 || time.Now().After(deadline) {
				break
			}
		}
		if c.warn && warnings != 1 || !c.warn && warnings != 0 {
			t.Errorf("serve --addr %s printed %d plain-HTTP warnings; stderr:\n%s", c.addr, warnings, srv.stderr)
		}
	}
}
