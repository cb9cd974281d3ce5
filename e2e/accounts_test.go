package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mriworkbench/workbench/internal/auth"
	"github.com/mriworkbench/workbench/internal/ingest"
	"github.com/mriworkbench/workbench/internal/testenv"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// addAccount creates a user as `workbench user add` does.
func addAccount(t *testing.T, st *store.Store, name string, role store.Role, password string) {
	t.Helper()
	hash, err := auth.HashPassword(password, auth.DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(context.Background(), name, role, hash); err != nil {
		t.Fatal(err)
	}
}

// importVolume imports a shared volume straight into the store (the upload needs a reviewer's session).
func importVolume(t *testing.T, st *store.Store, projectID int64, rel string) store.VolumeMeta {
	t.Helper()
	path := testenv.SharedData(t, rel)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := ingest.Decode(filepath.Base(path), data, nifti.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := ingest.Import(context.Background(), st, projectID, filepath.Base(path), data, dec, nil, "cli")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// signIn fills the sign-in form that covers the page.
func (b *tab) signIn(name, password string) {
	b.t.Helper()
	b.waitJS(`document.querySelector("#signin-name") !== null`, 10*time.Second)
	eval[bool](b, `(document.querySelector("#signin-name").value = "", document.querySelector("#signin-password").value = "", true)`)
	b.do(
		chromedp.SendKeys(chromedp.CSS("#signin-name"), name),
		chromedp.SendKeys(chromedp.CSS("#signin-password"), password),
		chromedp.Click(chromedp.CSS("#signin-submit")),
	)
}

// With accounts, the app asks for a sign-in first, refuses a wrong password in one line, saves labels under
// the account's name, and when the session ends mid-work (an admin changes the password) the sign-in form
// comes up over the viewer without losing the unsaved stroke, which is saved once signed in again. An
// admin reaches the audit trail, which shows it all. No CSP violation throughout.
func TestSignInAndSessionEnd(t *testing.T) {
	chromium := requireBrowserApp(t)
	artifacts := "artifacts"
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	srv, st := newAppServer(t)
	ctx := context.Background()
	p, err := st.CreateProject(ctx, "accounts", []store.Class{{Name: "cord", Color: "#ffcc00"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := importVolume(t, st, p.ID, volumeFile)
	addAccount(t, st, "root", store.RoleAdmin, "admin password")
	addAccount(t, st, "ann", store.RoleAnnotator, "annotator password")
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)

	browserCtx := newBrowser(t, chromium)
	tb := &tab{t: t, ctx: browserCtx, name: "tab"}
	csp := watchCSP(t, browserCtx)
	tb.do(chromedp.Navigate(fmt.Sprintf("%s/volumes/%d", ts.URL, v.ID)))
	tb.signIn("ann", "not the password")
	tb.waitJS(`document.querySelector("#signin-error").textContent === "wrong user name or password"`, 10*time.Second)
	tb.screenshot(filepath.Join(artifacts, "signin.png"))
	tb.signIn("ann", "annotator password")
	tb.waitViewer()
	if who := eval[string](tb, `document.querySelector("#session-user").textContent`); who != "ann · annotator" {
		t.Fatalf("signed-in badge %q", who)
	}
	if eval[bool](tb, `!!document.querySelector("#audit-link")`) {
		t.Fatal("an annotator is offered the audit trail")
	}
	z := eval[int](tb, `workbench.slice()`)
	tb.stroke(150, 150, 170, 150)
	tb.waitSaved()
	l, err := st.Label(ctx, v.ID, z)
	if err != nil || l.Author != "ann" {
		t.Fatalf("saved label %+v (%v), want author ann", l, err)
	}

	// The session ends mid-work: the next save gets 401 and raises the sign-in form over the viewer.
	hash, _ := auth.HashPassword("new annotator password", auth.DefaultParams)
	if err := st.SetPassword(ctx, "ann", hash); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3500 * time.Millisecond) // the server trusts a session it checked for 3 s (server/auth.go sessionCacheTTL)
	tb.stroke(150, 160, 170, 160)
	tb.waitJS(`document.querySelector("#signin") !== null`, 10*time.Second)
	if !eval[bool](tb, `workbench.hasUnsaved()`) || !strings.HasPrefix(eval[string](tb, `location.pathname`), "/volumes/") {
		t.Fatal("the stroke made after the session ended is not kept on the viewer")
	}
	tb.screenshot(filepath.Join(artifacts, "signin-over-viewer.png"))
	tb.signIn("ann", "new annotator password")
	tb.waitJS(`document.querySelector("#signin") === null`, 10*time.Second)
	tb.waitJS(`workbench.saveState() === "saved" && !workbench.hasUnsaved()`, 30*time.Second)
	if l2, err := st.Label(ctx, v.ID, z); err != nil || l2.Version != l.Version+1 || l2.Author != "ann" {
		t.Fatalf("after signing in again: %+v (%v), want version %d by ann", l2, err, l.Version+1)
	}

	// Sign out; the admin signs in and reads the audit trail.
	tb.do(chromedp.Click(chromedp.CSS("#sign-out")))
	tb.do(chromedp.WaitVisible(chromedp.CSS("#signin-name"))) // signing out reloads the app: its state was the last user's
	tb.signIn("root", "admin password")
	tb.waitJS(`document.querySelector("#audit-link") !== null`, 10*time.Second)
	tb.do(chromedp.Click(chromedp.CSS("#audit-link")))
	tb.waitJS(`document.querySelectorAll("#audit tbody tr").length >= 3`, 10*time.Second)
	rows := eval[string](tb, `[...document.querySelectorAll("#audit tbody tr")].map(r => r.children[1].textContent + " " + r.children[2].textContent).join(", ")`)
	for _, want := range []string{"root login", "ann logout", "ann login", "ann login.failed"} {
		if !strings.Contains(rows, want) {
			t.Errorf("audit page lacks %q: %s", want, rows)
		}
	}
	tb.screenshot(filepath.Join(artifacts, "audit.png"))
	tb.expectDownload(`a[href="/api/audit.csv"]`, "text/csv; charset=utf-8")
	csp.check(t, "tab")
}
