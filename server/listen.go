package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
)

func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	return ln, nil
}

// tlsListener serves HTTPS on ln with the PEM certificate and key given (TLS 1.2 and later).
func tlsListener(ln net.Listener, certFile, keyFile string) (net.Listener, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("cannot use the TLS certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"}}), nil
}

// NeedsAdminError refuses to serve on an address reachable from the network before an admin account exists:
// every request would be refused, and the first to reach a zero-config server could do anything.
type NeedsAdminError struct{ Addr, DataDir string }

func (e *NeedsAdminError) Error() string {
	return fmt.Sprintf("serving on %s, reachable from the network, needs accounts: create an admin first with "+
		"`workbench user add NAME --role admin --data %s`, or bind to 127.0.0.1", e.Addr, e.DataDir)
}

// checkDeployment refuses an off-loopback address without an admin, and a half-given TLS configuration.
func (s *Server) checkDeployment(ctx context.Context) error {
	if (s.cfg.TLSCertFile == "") != (s.cfg.TLSKeyFile == "") {
		return fmt.Errorf("TLS needs both a certificate and a key (--tls-cert and --tls-key)")
	}
	if s.store == nil || LoopbackAddr(s.cfg.Addr) {
		return nil
	}
	_, admins, err := s.store.UserCounts(ctx)
	if err != nil {
		return err
	}
	if admins == 0 {
		return &NeedsAdminError{Addr: s.cfg.Addr, DataDir: s.store.DataDir()}
	}
	return nil
}
