package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/mriworkbench/workbench/internal/auth"
	"github.com/mriworkbench/workbench/store"
)

var testPasswordParams = auth.Params{MemoryKiB: 1024, Time: 1, Threads: 1}

// addUser creates an account directly in the store, as `workbench user add` does.
func addUser(t testing.TB, st *store.Store, name string, role store.Role, password string) {
	t.Helper()
	hash, err := auth.HashPassword(password, testPasswordParams)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(context.Background(), name, role, hash); err != nil {
		t.Fatal(err)
	}
}

// browser is one user's HTTP client with its own cookie jar, against a base URL.
type browser struct {
	t    testing.TB
	base string
	hc   *http.Client
}

func newBrowser(t testing.TB, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

func (b *browser) do(method, path string, body []byte, header map[string]string) response {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, bytes.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if body != nil && header["Content-Type"] == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return response{resp, data}
}

func (b *browser) json(method, path string, v any) response {
	b.t.Helper()
	data, _ := json.Marshal(v)
	return b.do(method, path, data, nil)
}

func (b *browser) login(name, password string) response {
	b.t.Helper()
	return b.json(http.MethodPost, "/api/auth/login", map[string]string{"name": name, "password": password})
}

// lockedBuffer collects log output from concurrent handlers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// On loopback, accounts become required once a user exists: sessions, roles, the label's author, the audit
// trail, logout, and nothing secret in the log.
func TestAccountsOnLoopback(t *testing.T) {
	logs := &lockedBuffer{}
	e := newTestEnv(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	p := e.createProject("cord", "wm", "gm") // zero-config: anyone may
	v := e.uploadVolume(p.ID, "sct_testing_data/t2s/t2s.nii.gz")

	addUser(t, e.store, "root", store.RoleAdmin, "admin password")
	addUser(t, e.store, "rev", store.RoleReviewer, "reviewer password")
	addUser(t, e.store, "ann", store.RoleAnnotator, "annotator password")
	time.Sleep(accountsTTL + 100*time.Millisecond) // the server rechecks for users this often

	anon := newBrowser(t, e.http.URL)
	msg := anon.do(http.MethodGet, "/api/projects", nil, nil).expect(t, http.StatusUnauthorized).errorMessage(t)
	if !strings.Contains(msg, "sign in") {
		t.Fatalf("401 says %q", msg)
	}
	anon.do(http.MethodGet, "/api/health", nil, nil).expect(t, http.StatusOK)

	ann := newBrowser(t, e.http.URL)
	if msg := ann.login("ann", "wrong password").expect(t, http.StatusUnauthorized).errorMessage(t); msg != "wrong user name or password" {
		t.Fatalf("wrong password says %q", msg)
	}
	ann.login("nobody", "whatever password").expect(t, http.StatusUnauthorized)
	r := ann.login("ANN", "annotator password").expect(t, http.StatusOK)
	var who sessionInfo
	r.json(t, &who)
	if who.Name != "ann" || who.Role != store.RoleAnnotator || !who.Authenticated {
		t.Fatalf("login answered %+v", who)
	}
	var cookie *http.Cookie
	for _, c := range r.Cookies() {
		if c.Name == sessionCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Secure || cookie.Path != "/" {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, not Secure over plain HTTP", cookie)
	}

	// The label carries the session's name whatever X-Author says.
	mask := make([]byte, v.Shape[0]*v.Shape[1])
	mask[0] = 1
	var l store.Label
	ann.do(http.MethodPut, fmt.Sprintf("/api/volumes/%d/slices/3/label", v.ID), mask, map[string]string{
		"Content-Type": "application/octet-stream", "X-Base-Version": "0", "X-Author": "mallory"}).expect(t, http.StatusOK).json(t, &l)
	if l.Author != "ann" {
		t.Fatalf("label author %q, want ann", l.Author)
	}
	msg = ann.json(http.MethodPut, fmt.Sprintf("/api/volumes/%d/slices/3/verified", v.ID),
		map[string]any{"verified": true, "baseVersion": 1, "author": "mallory"}).expect(t, http.StatusForbidden).errorMessage(t)
	if msg != "this needs the reviewer role; ann is an annotator" {
		t.Fatalf("annotator's verify refused with %q", msg)
	}
	ann.do(http.MethodDelete, fmt.Sprintf("/api/projects/%d", p.ID), nil, nil).expect(t, http.StatusForbidden)
	ann.do(http.MethodGet, "/api/audit", nil, nil).expect(t, http.StatusForbidden)
	ann.json(http.MethodPost, fmt.Sprintf("/api/projects/%d/train", p.ID), map[string]any{}).expect(t, http.StatusForbidden)

	rev := newBrowser(t, e.http.URL)
	rev.login("rev", "reviewer password").expect(t, http.StatusOK)
	rev.json(http.MethodPut, fmt.Sprintf("/api/volumes/%d/slices/3/verified", v.ID),
		map[string]any{"verified": true, "baseVersion": 1}).expect(t, http.StatusOK).json(t, &l)
	if l.Author != "rev" || !l.Verified {
		t.Fatalf("reviewer's verify: %+v", l)
	}
	rev.do(http.MethodDelete, fmt.Sprintf("/api/volumes/%d", v.ID), nil, nil).expect(t, http.StatusForbidden)

	// An API token works as a bearer, until revoked.
	token, hash, _ := auth.NewSecret(tokenPrefix)
	if err := e.store.CreateToken(context.Background(), "root", hash); err != nil {
		t.Fatal(err)
	}
	script := newBrowser(t, e.http.URL)
	bearer := map[string]string{"Authorization": "Bearer " + token}
	script.do(http.MethodGet, "/api/auth/me", nil, bearer).expect(t, http.StatusOK).json(t, &who)
	if who.Name != "root" || who.Role != store.RoleAdmin {
		t.Fatalf("token's actor %+v", who)
	}
	script.do(http.MethodDelete, fmt.Sprintf("/api/projects/%d", p.ID), nil, bearer).expect(t, http.StatusNoContent)
	if _, err := e.store.RevokeTokens(context.Background(), "root"); err != nil {
		t.Fatal(err)
	}
	script.do(http.MethodGet, "/api/projects", nil, bearer).expect(t, http.StatusUnauthorized)
	script.do(http.MethodGet, "/api/projects", nil, map[string]string{"Authorization": "Basic cm9vdDpwdw=="}).expect(t, http.StatusUnauthorized)

	// The audit trail, newest first, and as CSV.
	admin := newBrowser(t, e.http.URL)
	admin.login("root", "admin password").expect(t, http.StatusOK)
	var entries []store.AuditEntry
	admin.do(http.MethodGet, "/api/audit", nil, nil).expect(t, http.StatusOK).json(t, &entries)
	var actions []string
	for i := len(entries) - 1; i >= 0; i-- {
		actions = append(actions, entries[i].Actor+" "+entries[i].Action)
	}
	want := []string{" project.create", " volume.create", "ann login.failed", "nobody login.failed", "ann login",
		"rev login", "rev label.verify", "root project.delete", "root login"}
	if strings.Join(actions, ", ") != strings.Join(want, ", ") {
		t.Fatalf("audit trail:\n%s\nwant\n%s", strings.Join(actions, ", "), strings.Join(want, ", "))
	}
	if entries[1].Target != fmt.Sprintf("project %d (cord)", p.ID) || entries[1].Remote != "127.0.0.1" {
		t.Fatalf("project.delete entry %+v", entries[1])
	}
	csv := admin.do(http.MethodGet, "/api/audit.csv", nil, nil).expect(t, http.StatusOK)
	if !strings.HasPrefix(string(csv.body), "id,time,actor,action,target,detail,remote\n") ||
		strings.Count(string(csv.body), "\n") != len(entries)+1 || !strings.Contains(string(csv.body), ",root,project.delete,") {
		t.Fatalf("audit CSV:\n%s", csv.body)
	}

	// Logout ends the session.
	ann.do(http.MethodPost, "/api/auth/logout", nil, nil).expect(t, http.StatusNoContent)
	ann.do(http.MethodGet, "/api/projects", nil, nil).expect(t, http.StatusUnauthorized)

	out := logs.String()
	for _, secret := range []string{"annotator password", "admin password", cookie.Value, token} {
		if strings.Contains(out, secret) {
			t.Fatalf("the log holds a secret (%q):\n%s", secret, out)
		}
	}
}

// Failed logins are limited per name: the sixth try within the window gets 429 with Retry-After, even with
// the right password, and hashes nothing.
func TestLoginRateLimited(t *testing.T) {
	e := newTestEnv(t)
	addUser(t, e.store, "ann", store.RoleAnnotator, "annotator password")
	b := newBrowser(t, e.http.URL)
	for i := 0; i < loginFailuresPerUser; i++ {
		b.login("ann", fmt.Sprintf("guess %d!!", i)).expect(t, http.StatusUnauthorized)
	}
	r := b.login("ann", "annotator password").expect(t, http.StatusTooManyRequests)
	if r.Header.Get("Retry-After") == "" || !strings.Contains(r.errorMessage(t), "too many failed sign-ins") {
		t.Fatalf("429 %v %s", r.Header, r.body)
	}
	// Another account from the same address is not locked out by these.
	addUser(t, e.store, "bob", store.RoleAnnotator, "bob's password")
	b.login("bob", "bob's password").expect(t, http.StatusOK)
}

// Behind a TLS proxy that says so, the cookie is Secure.
func TestSessionCookieSecureBehindTLSProxy(t *testing.T) {
	e := newTestEnv(t)
	addUser(t, e.store, "ann", store.RoleAnnotator, "annotator password")
	b := newBrowser(t, e.http.URL)
	data, _ := json.Marshal(map[string]string{"name": "ann", "password": "annotator password"})
	r := b.do(http.MethodPost, "/api/auth/login", data, map[string]string{"X-Forwarded-Proto": "https"}).expect(t, http.StatusOK)
	if c := r.Cookies(); len(c) != 1 || !c[0].Secure {
		t.Fatalf("cookies %+v, want one Secure session cookie", c)
	}
}

// The deployment test: bound to every interface (traffic on loopback only), the server refuses to
// start without an admin; with an admin and an annotator, unauthenticated API and websocket requests get
// 401, the annotator's label carries the annotator's name whatever X-Author says, the annotator's DELETE of
// a project gets 403, and the admin's succeeds and is in the audit trail.
func TestOffLoopbackNeedsAccounts(t *testing.T) {
	st, err := store.Open(t.TempDir(), os.DirFS("../migrations"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	cfg := Config{Addr: "0.0.0.0:0", Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), PasswordParams: testPasswordParams}
	err = New(cfg).Run(ctx, func(string) { t.Error("served without an admin") })
	if _, ok := err.(*NeedsAdminError); !ok || !strings.Contains(err.Error(), "workbench user add NAME --role admin --data") {
		t.Fatalf("start without users: %v, want a NeedsAdminError naming the command", err)
	}

	addUser(t, st, "root", store.RoleAdmin, "admin password")
	addUser(t, st, "ann", store.RoleAnnotator, "annotator password")
	p, err := st.CreateProject(ctx, "cord", []store.Class{{Name: "gm", Color: "#00ff00"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := importFile(ctx, st, p.ID, "t2s.nii.gz", readShared(t, "sct_testing_data/t2s/t2s.nii.gz"), nil, "cli")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	addrc, done := make(chan string, 1), make(chan error, 1)
	srv := New(cfg)
	go func() { done <- srv.Run(runCtx, func(a string) { addrc <- a }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	_, port, _ := net.SplitHostPort(<-addrc)
	base := "http://127.0.0.1:" + port

	anon := newBrowser(t, base)
	for _, path := range []string{"/api/projects", fmt.Sprintf("/api/volumes/%d/slices/0", v.ID), fmt.Sprintf("/api/projects/%d/export.zip", p.ID)} {
		anon.do(http.MethodGet, path, nil, nil).expect(t, http.StatusUnauthorized)
	}
	anon.do(http.MethodDelete, fmt.Sprintf("/api/projects/%d", p.ID), nil, nil).expect(t, http.StatusUnauthorized)
	anon.do(http.MethodGet, "/api/health", nil, nil).expect(t, http.StatusOK)
	_, resp, err := websocket.DefaultDialer.Dial(fmt.Sprintf("ws://127.0.0.1:%s/api/projects/%d/events", port, p.ID), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated websocket: %v %v, want 401", err, resp)
	}

	ann := newBrowser(t, base)
	ann.login("ann", "annotator password").expect(t, http.StatusOK)
	mask := make([]byte, v.Shape[0]*v.Shape[1])
	mask[5] = 1
	var l store.Label
	ann.do(http.MethodPut, fmt.Sprintf("/api/volumes/%d/slices/2/label", v.ID), mask, map[string]string{
		"Content-Type": "application/octet-stream", "X-Base-Version": "0", "X-Author": "root"}).expect(t, http.StatusOK).json(t, &l)
	if l.Author != "ann" {
		t.Fatalf("label author %q, want ann", l.Author)
	}
	// The websocket with the session's cookie connects.
	u := fmt.Sprintf("ws://127.0.0.1:%s/api/projects/%d/events", port, p.ID)
	hdr := http.Header{"Cookie": {cookieHeader(ann, base)}}
	conn, _, err := websocket.DefaultDialer.Dial(u, hdr)
	if err != nil {
		t.Fatalf("websocket with a session: %v", err)
	}
	conn.Close()
	msg := ann.do(http.MethodDelete, fmt.Sprintf("/api/projects/%d", p.ID), nil, nil).expect(t, http.StatusForbidden).errorMessage(t)
	if msg != "this needs the admin role; ann is an annotator" {
		t.Fatalf("annotator's delete refused with %q", msg)
	}

	admin := newBrowser(t, base)
	admin.login("root", "admin password").expect(t, http.StatusOK)
	admin.do(http.MethodDelete, fmt.Sprintf("/api/projects/%d", p.ID), nil, nil).expect(t, http.StatusNoContent)
	entries, err := st.AuditLog(ctx, 0, 10)
	if err != nil || len(entries) == 0 || entries[0].Actor != "root" || entries[0].Action != "project.delete" ||
		entries[0].Target != fmt.Sprintf("project %d (cord)", p.ID) {
		t.Fatalf("newest audit entry %+v (%v), want root's project.delete", entries, err)
	}
}

func cookieHeader(b *browser, base string) string {
	req, _ := http.NewRequest(http.MethodGet, base, nil)
	var parts []string
	for _, c := range b.hc.Jar.Cookies(req.URL) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}
