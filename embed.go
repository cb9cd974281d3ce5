// Package workbench holds the files compiled into the binary: the built web app and the SQL migrations.
// It imports nothing else of the project, so every package may depend on it without cycles.
package workbench

import (
	"embed"
	"io/fs"
)

//go:embed all:web/dist
var webDist embed.FS

//go:embed migrations/*.sql
var migrations embed.FS

// WebApp is the built single-page app, rooted at its index.html.
func WebApp() fs.FS {
	sub, err := fs.Sub(webDist, "web/dist")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory exists
	}
	return sub
}

// Migrations are the numbered schema migrations, rooted at the migrations directory.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err)
	}
	return sub
}
