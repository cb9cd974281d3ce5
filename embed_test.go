package workbench

import (
	"io/fs"
	"strings"
	"testing"
)

// The binary always has a page to serve: the built app, or the one saying how to build it.
func TestWebAppHasAnIndexPage(t *testing.T) {
	page, err := fs.ReadFile(WebApp(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	if built := !strings.Contains(string(page), "web app is not built"); built != WebAppBuilt() {
		t.Fatalf("WebAppBuilt() = %v, but index.html is %.80q", WebAppBuilt(), page)
	}
	fallback, err := fs.ReadFile(sub(webFallback, "web/fallback"), "index.html")
	if err != nil || !strings.Contains(string(fallback), "make run") {
		t.Fatalf("fallback page %q, %v", fallback, err)
	}
}

func TestMigrationsAreEmbedded(t *testing.T) {
	names, err := fs.Glob(Migrations(), "*.sql")
	if err != nil || len(names) < 2 || names[0] != "0001_init.sql" {
		t.Fatalf("migrations %v, %v", names, err)
	}
}
