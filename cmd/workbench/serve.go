package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	workbench "github.com/mriworkbench/workbench"
	"github.com/mriworkbench/workbench/internal/job"
	"github.com/mriworkbench/workbench/server"
	"github.com/mriworkbench/workbench/store"
)

func runServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve [--data DIR] [--addr 127.0.0.1:8080] [--allow-host NAME]... [--tls-cert FILE --tls-key FILE] [--integrity-check] [--train-memory SIZE]", stderr)
	dataDir := dataFlag(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	var allowHosts listFlag
	fs.Var(&allowHosts, "allow-host", "host name browsers may use to reach a LAN deployment, besides loopback and IP addresses (repeatable)")
	tlsCert := fs.String("tls-cert", "", "serve HTTPS with this PEM certificate (chain); needs --tls-key")
	tlsKey := fs.String("tls-key", "", "the PEM private key of --tls-cert")
	integrityCheck := fs.Bool("integrity-check", false, "check the whole database at start with PRAGMA integrity_check "+
		"(every index against its table) instead of quick_check; slower on a large database")
	var trainMemory sizeFlag
	fs.Var(&trainMemory, "train-memory", "memory budget of a training run, e.g. 8GiB: runs estimated above it are refused (default: half of the machine's memory, at most 64GiB)")
	if err := fs.parse(args); err != nil {
		return err
	}
	worker, err := trainingWorker()
	if err != nil {
		return err
	}
	var opts []store.Option
	if *integrityCheck {
		opts = append(opts, store.WithFullIntegrityCheck())
	}
	// Open refuses a damaged database, or one that is not this directory's, naming the way to recover.
	st, err := store.Open(*dataDir, workbench.Migrations(), opts...)
	if err != nil {
		return err
	}
	defer st.Close()
	reportOpen(stderr, st)
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
	srv := server.New(server.Config{Addr: *addr, WebApp: workbench.WebApp(), Store: st, AllowedHosts: allowHosts,
		TLSCertFile: *tlsCert, TLSKeyFile: *tlsKey,
		Training: job.WorkerConfig{Command: worker, MemoryBudget: int64(trainMemory)}})
	scheme := "http"
	if *tlsCert != "" {
		scheme = "https"
	}
	err = srv.Run(ctx, func(a string) {
		// Run has checked that accounts exist off loopback; what is left to warn of is plain HTTP.
		if scheme == "http" && !server.LoopbackAddr(*addr) {
			fmt.Fprintf(stderr, "workbench: warning: serving plain HTTP on %s, reachable from the network: passwords and session cookies "+
				"cross it unencrypted; use --tls-cert and --tls-key, or a TLS proxy in front (README)\n", *addr)
		}
		fmt.Fprintf(stdout, "workbench serving %s://%s (data in %s); Ctrl+C stops\n", scheme, a, st.DataDir())
	})
	return err
}

// reportOpen says at start which data directory this is and what its check found.
func reportOpen(w io.Writer, st *store.Store) {
	info := st.OpenInfo()
	if info.Adopted {
		fmt.Fprintf(w, "workbench: %s had no identity (it was made before identities): recorded %s\n", st.DataDir(), info.Identity.ID)
	}
	fmt.Fprintf(w, "workbench: data directory %s (created %s): %s ok in %s\n", info.Identity.ID,
		info.Identity.CreatedAt.Local().Format("2006-01-02"), info.Check, info.CheckTook.Round(time.Millisecond))
}
