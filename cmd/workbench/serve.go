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
	fs := newFlagSet("serve", "serve [--data DIR] [--addr 127.0.0.1:8080] [--allow-host NAME]...", stderr)
	dataDir := dataFlag(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	var allowHosts listFlag
	fs.Var(&allowHosts, "allow-host", "host name browsers may use to reach a LAN deployment, besides loopback and IP addresses (repeatable)")
	if err := fs.parse(args); err != nil {
		return err
	}
	st, err := openStore(*dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// A run whose process died (a killed server or CLI train) cannot resume: say so instead of showing it
	// running. Runs of live processes, such as a CLI train in progress, are left alone.
	if n, err := st.MarkInterruptedRuns(ctx); err != nil {
		return err
	} else if n > 0 {
		fmt.Fprintf(stderr, "workbench: %d training run(s) were interrupted: the process running them stopped\n", n)
	}
	if !workbench.WebAppBuilt() {
		fmt.Fprintln(stderr, "workbench: this binary has no web app (make run builds it); the API still answers")
	}
	srv := server.New(server.Config{Addr: *addr, WebApp: workbench.WebApp(), Store: st, AllowedHosts: allowHosts})
	return srv.Run(ctx, func(a string) {
		fmt.Fprintf(stdout, "workbench serving http://%s (data in %s); Ctrl+C stops\n", a, st.DataDir())
	})
}
