package server

import (
	"net/http"
	"strings"
	"testing"
)

// securityHeaderNames are the headers every plain-HTTP answer carries.
var securityHeaderNames = []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options",
	"Referrer-Policy", "Cross-Origin-Opener-Policy"}

// Every answer carries the security headers: API JSON, the app's page (and a deep link falling back to it), an
// API 404, a refused request and a validation error.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	env := newTestEnv(t)
	p := env.createProject("p", "gm")
	cases := []struct {
		name   string
		resp   response
		status int
	}{
		{"health", env.get("/api/health"), http.StatusOK},
		{"API JSON", env.get("/api/projects"), http.StatusOK},
		{"app page", env.get("/"), http.StatusOK},
		{"deep link", env.get("/projects/1/volumes/2"), http.StatusOK},
		{"API 404", env.get("/api/nowhere"), http.StatusNotFound},
		{"missing project", env.get("/api/projects/999"), http.StatusNotFound},
		{"cross-origin refusal", env.do(http.MethodDelete, "/api/projects/1", nil, map[string]string{"Origin": "https://evil.example"}), http.StatusForbidden},
		{"validation error", env.sendJSON(http.MethodPatch, "/api/projects/1", map[string]any{"name": ""}), http.StatusBadRequest},
	}
	for _, c := range cases {
		if c.resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d (%s)", c.name, c.resp.StatusCode, c.status, c.resp.body)
		}
		h := c.resp.Header
		for _, name := range securityHeaderNames {
			if h.Get(name) == "" {
				t.Errorf("%s: no %s header", c.name, name)
			}
		}
		csp := h.Get("Content-Security-Policy")
		for _, directive := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, directive) {
				t.Errorf("%s: CSP %q lacks %q", c.name, csp, directive)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP %q allows inline or eval'd code", c.name, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "same-origin" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", c.name, h)
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS sent over plain HTTP", c.name)
		}
	}
	if p.ID != 1 {
		t.Fatalf("project id %d, the cases above assume 1", p.ID)
	}
}
