// Package workbench holds the files compiled into the binary: the built web app and the SQL migrations.
// It imports nothing else of the project, so every package may depend on it without cycles.
package workbench

import (
	"embed"
	"io/fs"
)

// web/dist holds the built app, or in a fresh clone only its .gitignore (make web builds it): the binary then
// serves web/fallback's page, which says how to build the app, so that `go build ./...` works before npm ran.
//
//go:embed all:web/dist
var webDist embed.FS

//go:embed web/fallback/index.html web/fallback/fallback.css
var webFallback embed.FS

//go:embed migrations/*.sql
var migrations embed.FS

// WebApp is the built single-page app, rooted at its index.html; without a built app, a page saying how to
// build it.
func WebApp() fs.FS {
	if WebAppBuilt() {
		return sub(webDist, "web/dist")
	}
	return sub(webFallback, "web/fallback")
}

// WebAppBuilt reports whether the binary embeds the built web app (not the fallback page).
func WebAppBuilt() bool {
	_, err := fs.Stat(webDist, "web/dist/index.html")
	return err == nil
}

// Migrations are the numbered schema migrations, rooted at the migrations directory.
func Migrations() fs.FS { return sub(migrations, "migrations") }

func sub(fsys embed.FS, dir string) fs.FS {
	s, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // the embed patterns guarantee the directories exist
	}
	return s
}
