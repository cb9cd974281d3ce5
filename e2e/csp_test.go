package e2e

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// reportCSPViolations runs in every document before the page's own code: each Content-Security-Policy
// violation becomes a console error the test collects, across navigations and reloads.
const reportCSPViolations = `document.addEventListener("securitypolicyviolation", (e) =>
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
    " at " + e.sourceFile + ":" + e.lineNumber));`

// cspWatch collects the CSP violations of one browser tab. The server sends its policy with every answer
// (server/headers.go), so the browser enforces it while the test drives the app.
type cspWatch struct {
	mu   sync.Mutex
	seen []string
}

func watchCSP(t *testing.T, ctx context.Context) *cspWatch {
	t.Helper()
	w := &cspWatch{}
	if err := chromedp.Listen(ctx, func(ev any) {
		var text string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			for _, arg := range ev.Args {
				if s := string(arg.Value); strings.Contains(s, "CSP violation") {
					text = s
				}
			}
		case *cdplog.EventEntryAdded:
			if ev.Entry != nil && strings.Contains(ev.Entry.Text, "Content Security Policy") {
				text = ev.Entry.Text
			}
		}
		if text != "" {
			w.mu.Lock()
			w.seen = append(w.seen, text)
			w.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: reportCSPViolations})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	return w
}

// check fails the test for every violation seen so far.
func (w *cspWatch) check(t *testing.T, tabName string) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, v := range w.seen {
		t.Errorf("%s: %s", tabName, v)
	}
}

// The watch is what proves the app runs under the policy, so it must see a violation when there is one: an
// inline style element and an inline script, added by the test, are blocked and reported; the app's own
// pages (TestAnnotationFlow) report none.
func TestCSPViolationsAreSeen(t *testing.T) {
	chromium := requireBrowserApp(t)
	srv, _ := newAppServer(t)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	ctx := newBrowser(t, chromium)
	b := &tab{t: t, ctx: ctx, name: "csp"}
	w := watchCSP(t, ctx)
	b.do(chromedp.Navigate(ts.URL + "/"))
	b.waitJS(`document.querySelector("form.create") !== null`, 10*time.Second)
	b.do(chromedp.Evaluate[chromedp.Void](`document.head.insertAdjacentHTML("beforeend", "<style>body { color: red }</style>");
		const s = document.createElement("script"); s.textContent = "window.injected = true"; document.body.append(s);`))
	b.waitJS(`true`, time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		w.mu.Lock()
		seen := strings.Join(w.seen, "\n")
		w.mu.Unlock()
		if strings.Contains(seen, "style-src") && strings.Contains(seen, "script-src") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("violations seen: %q, want a style-src and a script-src one", seen)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if eval[bool](b, `window.injected === true`) {
		t.Error("an inline script ran despite the policy")
	}
}
