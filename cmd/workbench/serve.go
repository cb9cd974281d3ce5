package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	workbench "github.com/mriworkbench/workbench"
	"github.com/mriworkbench/workbench/server"
)

func runServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve [--data DIR] [--addr 127.0.0.1:8080]", stderr)
	dataDir := fs.String("data", "./data", "data directory (SQLite database, volumes, models)")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_ = dataDir
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv := server.New(server.Config{Addr: *addr, WebApp: workbench.WebApp()})
	return srv.Run(ctx, func(a string) {
		fmt.Fprintf(stdout, "workbench serving http://%s (data in %s); Ctrl+C stops\n", a, *dataDir)
	})
}
