package e2e

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/chromedp/chromedp"

	workbench "github.com/mriworkbench/workbench"
	"github.com/mriworkbench/workbench/internal/testenv"
	"github.com/mriworkbench/workbench/server"
	"github.com/mriworkbench/workbench/store"
)

// requireBrowserApp returns Chromium's path, skipping (or failing under WORKBENCH_REQUIRE_DATA) when Chromium or
// the built web app is missing.
func requireBrowserApp(t testing.TB) string {
	t.Helper()
	chromium := testenv.RequireChromium(t)
	if !workbench.WebAppBuilt() {
		testenv.Missing(t, "the web app is not built into this test binary (make web, or make test, builds it)")
	}
	return chromium
}

// newAppServer is the real server with the embedded app on a fresh data directory; the test serves its Handler.
func newAppServer(t testing.TB) (*server.Server, *store.Store) {
	t.Helper()
	st, err := store.Open(t.TempDir(), workbench.Migrations())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := server.New(server.Config{Addr: "127.0.0.1:0", WebApp: workbench.WebApp(), Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	// Stops a training run still going when the test ends, before the store closes.
	t.Cleanup(srv.Trainer().Close)
	return srv, st
}

// newBrowser starts headless Chromium with its own profile; it closes when the test ends.
func newBrowser(t testing.TB, chromium string) context.Context {
	t.Helper()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	return browserCtx
}
