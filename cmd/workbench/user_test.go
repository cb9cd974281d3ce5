package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/mriworkbench/workbench/internal/auth"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

// The user commands: add (password on standard input), refusals, list, passwd, role, remove, token; every
// change in the audit trail as done by the CLI; no password in any output.
func TestUserCommands(t *testing.T) {
	data := t.TempDir()
	t.Cleanup(func() { passwordInput = os.Stdin })

	passwordInput = strings.NewReader("first password\n")
	if code, out, errOut := runCLI(t, "user", "add", "ada", "--role", "admin", "--data", data); code != 0 || out != "added ada (admin)\n" {
		t.Fatalf("user add: %d %q %q", code, out, errOut)
	}
	passwordInput = strings.NewReader("short\n")
	if code, _, errOut := runCLI(t, "user", "add", "bob", "--role", "annotator", "--data", data); code != 1 || !strings.Contains(errOut, "password too short") {
		t.Fatalf("short password: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "user", "add", "bob", "--role", "boss", "--data", data); code != 2 || !strings.Contains(errOut, "unknown role") {
		t.Fatalf("bad role: %d %q", code, errOut)
	}
	passwordInput = strings.NewReader("another password\n")
	if code, _, errOut := runCLI(t, "user", "add", "ADA", "--role", "annotator", "--data", data); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Fatalf("duplicate: %d %q", code, errOut)
	}
	passwordInput = strings.NewReader("bob's password\n")
	if code, _, errOut := runCLI(t, "user", "add", "bob", "--role", "annotator", "--data", data); code != 0 {
		t.Fatalf("add bob: %q", errOut)
	}
	_, out, _ := runCLI(t, "user", "list", "--data", data)
	if !strings.Contains(out, "ada   admin") || !strings.Contains(out, "bob   annotator") {
		t.Fatalf("list:\n%s", out)
	}
	if code, _, errOut := runCLI(t, "user", "remove", "ada", "--data", data); code != 1 || !strings.Contains(errOut, "last admin") {
		t.Fatalf("removing the last admin: %d %q", code, errOut)
	}
	passwordInput = strings.NewReader("second password\n")
	if code, _, errOut := runCLI(t, "user", "passwd", "ada", "--data", data); code != 0 {
		t.Fatalf("passwd: %q", errOut)
	}
	if code, out, _ := runCLI(t, "user", "role", "bob", "reviewer", "--data", data); code != 0 || out != "bob is now reviewer\n" {
		t.Fatalf("role: %d %q", code, out)
	}
	code, token, errOut := runCLI(t, "user", "token", "bob", "--data", data)
	token = strings.TrimSpace(token)
	if code != 0 || !strings.HasPrefix(token, "wbt_") || !strings.Contains(errOut, "shown once") {
		t.Fatalf("token: %d %q %q", code, token, errOut)
	}
	if code, out, _ := runCLI(t, "user", "token", "bob", "--revoke", "--data", data); code != 0 || out != "revoked 1 API token(s) of bob\n" {
		t.Fatalf("revoke: %d %q", code, out)
	}
	if code, out, _ := runCLI(t, "user", "remove", "bob", "--data", data); code != 0 || !strings.Contains(out, "removed bob") {
		t.Fatalf("remove: %d %q", code, out)
	}

	st, err := openStore(data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	_, hash, err := st.UserCredentials(ctx, "ada")
	if err != nil || auth.VerifyPassword("second password", hash) != nil {
		t.Fatalf("ada's password after passwd: %v", err)
	}
	if _, err := st.TokenUser(ctx, auth.HashSecret(token)); err == nil {
		t.Fatal("the revoked token still works")
	}
	entries, _ := st.AuditLog(ctx, 0, 20)
	var got []string
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].Actor != "cli" {
			t.Errorf("entry %+v not by cli", entries[i])
		}
		got = append(got, entries[i].Action+" "+entries[i].Target)
	}
	want := "user.add user ada, user.add user bob, user.passwd user ada, user.role user bob, token.create user bob, token.revoke user bob, user.remove user bob"
	if strings.Join(got, ", ") != want {
		t.Fatalf("audit:\n%s\nwant\n%s", strings.Join(got, ", "), want)
	}
}
