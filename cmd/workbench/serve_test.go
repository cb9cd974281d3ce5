package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// addAdmin runs `workbench user add` in-process, with the password from a file.
func addAdmin(t *testing.T, data, name, password string) {
	t.Helper()
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte(password+"\n"), 0o600)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"user", "add", name, "--role", "admin", "--password-file", pwFile, "--data", data}, &stdout, &stderr); code != 0 {
		t.Fatalf("user add: exit %d: %s", code, stderr.String())
	}
}

// Bound off loopback with no admin, serve refuses to start and names the command that creates one.
func TestServeOffLoopbackNeedsAnAdmin(t *testing.T) {
	data := t.TempDir()
	cmd := exec.Command(os.Args[0], "serve", "--data", data, "--addr", "0.0.0.0:0")
	cmd.Env = append(os.Environ(), "WORKBENCH_TEST_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 {
		t.Fatalf("serve off loopback without users: %v, want exit status 1; stderr:\n%s", err, stderr.String())
	}
	msg := stderr.String()
	if !strings.Contains(msg, "needs accounts") || !strings.Contains(msg, "workbench user add NAME --role admin --data "+data) {
		t.Fatalf("refusal does not name the command to create an admin:\n%s", msg)
	}
}

// With an admin, served off loopback over plain HTTP, the server says at start, in one line, that
// passwords cross the network unencrypted, and every API route but health needs a session; on loopback it
// warns of nothing. Both answer with the security headers.
func TestServeWarnsOfPlainHTTPOffLoopback(t *testing.T) {
	for _, c := range []struct {
		addr string
		warn bool
	}{{"127.0.0.1:0", false}, {"0.0.0.0:0", true}} {
		data := t.TempDir()
		if c.warn {
			addAdmin(t, data, "root", "admin password")
		}
		srv := startServeAt(t, data, c.addr)
		port := srv.addr[strings.LastIndex(srv.addr, ":"):]
		resp, err := http.Get("http://127.0.0.1" + port + "/api/health") // traffic to loopback only
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: health answered without security headers: %v", c.addr, resp.Header)
		}
		resp, err = http.Get("http://127.0.0.1" + port + "/api/projects")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{false: http.StatusOK, true: http.StatusUnauthorized}[c.warn]; resp.StatusCode != want {
			t.Errorf("%s: GET /api/projects without a session: %d, want %d", c.addr, resp.StatusCode, want)
		}
		// The child writes the warning before the line saying where it serves; its copy into the buffer may lag.
		warnings := 0
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			warnings = strings.Count(srv.stderr.String(), "warning: serving plain HTTP")
			if !c.warn || warnings > 0 || time.Now().After(deadline) {
				break
			}
		}
		if c.warn && warnings != 1 || !c.warn && warnings != 0 {
			t.Errorf("serve --addr %s printed %d plain-HTTP warnings; stderr:\n%s", c.addr, warnings, srv.stderr)
		}
	}
}

// --tls-cert/--tls-key serve HTTPS: no plain-HTTP warning, and a login's cookie is Secure.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSignedCert(t, dir)
	data := t.TempDir()
	addAdmin(t, data, "root", "admin password")
	srv := startServeAt(t, data, "0.0.0.0:0", "--tls-cert", certFile, "--tls-key", keyFile)
	port := srv.addr[strings.LastIndex(srv.addr, ":"):]
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Post("https://127.0.0.1"+port+"/api/auth/login", "application/json",
		strings.NewReader(`{"name":"root","password":"admin password"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 1 || !resp.Cookies()[0].Secure {
		t.Fatalf("login over TLS: %s, cookies %+v; want 200 and one Secure cookie", resp.Status, resp.Cookies())
	}
	// net/http answers a plain request on a TLS port with a 400 and nothing else.
	if resp, err := http.Get("http://127.0.0.1" + port + "/api/health"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP on the TLS port: %s, want 400", resp.Status)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if strings.Contains(srv.stderr.String(), "plain HTTP") {
		t.Errorf("warned of plain HTTP while serving TLS:\n%s", srv.stderr)
	}

	// A key that does not exist: one line, exit status 1.
	var stdout, stderr bytes.Buffer
	if code := run([]string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", filepath.Join(dir, "missing.pem")},
		&stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "cannot use the TLS certificate") {
		t.Fatalf("missing key: exit %d, stderr %q", code, stderr.String())
	}
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key, and returns a pool that trusts it.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "workbench test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
