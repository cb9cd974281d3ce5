package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestUsers(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if n, admins, err := s.UserCounts(ctx); err != nil || n != 0 || admins != 0 {
		t.Fatalf("empty store counts %d users, %d admins (%v)", n, admins, err)
	}
	admin, err := s.CreateUser(ctx, "Ada", RoleAdmin, "hash-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "ada", RoleAnnotator, "hash-b"); !errors.Is(err, ErrConflict) {
		t.Fatalf("a second ada (names ignore case): %v, want ErrConflict", err)
	}
	for _, bad := range []struct{ name, role, hash string }{{"", "admin", "h"}, {"has space", "admin", "h"},
		{"ok", "root", "h"}, {"ok", "admin", ""}, {"-dash", "admin", "h"}} {
		_, err := s.CreateUser(ctx, bad.name, Role(bad.role), bad.hash)
		var v *ValidationError
		if !errors.As(err, &v) {
			t.Errorf("CreateUser(%q, %q, %q): %v, want a ValidationError", bad.name, bad.role, bad.hash, err)
		}
	}
	if _, err := s.CreateUser(ctx, "bob", RoleAnnotator, "hash-bob"); err != nil {
		t.Fatal(err)
	}
	u, hash, err := s.UserCredentials(ctx, "ADA")
	if err != nil || u.ID != admin.ID || hash != "hash-a" || u.Role != RoleAdmin {
		t.Fatalf("credentials of ADA: %+v %q %v", u, hash, err)
	}
	if n, admins, _ := s.UserCounts(ctx); n != 2 || admins != 1 {
		t.Fatalf("counts %d users, %d admins; want 2, 1", n, admins)
	}
	// The last admin stays.
	if err := s.RemoveUser(ctx, "ada"); !errors.Is(err, ErrConflict) {
		t.Fatalf("removing the last admin: %v, want ErrConflict", err)
	}
	if err := s.SetRole(ctx, "ada", RoleReviewer); !errors.Is(err, ErrConflict) {
		t.Fatalf("demoting the last admin: %v, want ErrConflict", err)
	}
	if err := s.SetRole(ctx, "bob", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveUser(ctx, "ada"); err != nil {
		t.Fatalf("removing an admin when another exists: %v", err)
	}
	if _, err := s.UserByName(ctx, "ada"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed user: %v", err)
	}
	users, err := s.Users(ctx)
	if err != nil || len(users) != 1 || users[0].Name != "bob" || users[0].Role != RoleAdmin {
		t.Fatalf("users %+v %v", users, err)
	}
	if err := s.RemoveUser(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removing an unknown user: %v", err)
	}
}

func TestRoleIncludes(t *testing.T) {
	for _, c := range []struct {
		have, need Role
		ok         bool
	}{{RoleAdmin, RoleReviewer, true}, {RoleReviewer, RoleAnnotator, true}, {RoleAnnotator, RoleReviewer, false},
		{RoleReviewer, RoleAdmin, false}, {RoleAnnotator, RoleAnnotator, true}, {"", RoleAnnotator, false}} {
		if got := c.have.Includes(c.need); got != c.ok {
			t.Errorf("%q includes %q: %v, want %v", c.have, c.need, got, c.ok)
		}
	}
}

func TestSessionsAndTokens(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	u, _ := s.CreateUser(ctx, "ann", RoleAnnotator, "h1")
	live, expired := []byte("live-session-hash"), []byte("old-session-hash")
	if err := s.CreateSession(ctx, u.ID, expired, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, u.ID, live, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.SessionUser(ctx, live); err != nil || got.Name != "ann" {
		t.Fatalf("live session: %+v %v", got, err)
	}
	if _, _, err := s.SessionUser(ctx, expired); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired session: %v, want ErrNotFound", err)
	}
	var rows int
	s.db.QueryRow(`SELECT COUNT(*) FROM sessions`).Scan(&rows)
	if rows != 1 {
		t.Fatalf("%d session rows; the expired one should have gone when the new one came", rows)
	}
	later := time.Now().Add(2 * time.Hour).Truncate(time.Millisecond)
	if err := s.ExtendSession(ctx, live, later); err != nil {
		t.Fatal(err)
	}
	if _, exp, _ := s.SessionUser(ctx, live); !exp.Equal(later) {
		t.Fatalf("extended expiry %v, want %v", exp, later)
	}
	// A new password ends the sessions.
	if err := s.SetPassword(ctx, "ann", "h2"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SessionUser(ctx, live); !errors.Is(err, ErrNotFound) {
		t.Fatalf("session after a password change: %v, want ErrNotFound", err)
	}
	if err := s.CreateSession(ctx, u.ID, live, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(ctx, live); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SessionUser(ctx, live); !errors.Is(err, ErrNotFound) {
		t.Fatalf("session after logout: %v", err)
	}

	tok := []byte("token-hash")
	if err := s.CreateToken(ctx, "ann", tok); err != nil {
		t.Fatal(err)
	}
	if got, err := s.TokenUser(ctx, tok); err != nil || got.ID != u.ID {
		t.Fatalf("token user %+v %v", got, err)
	}
	if n, err := s.RevokeTokens(ctx, "ann"); err != nil || n != 1 {
		t.Fatalf("revoked %d tokens (%v), want 1", n, err)
	}
	if _, err := s.TokenUser(ctx, tok); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoked token: %v", err)
	}
	// Removing a user takes its sessions and tokens with it.
	s.CreateUser(ctx, "root", RoleAdmin, "h")
	s.CreateSession(ctx, u.ID, live, time.Now().Add(time.Hour))
	if err := s.RemoveUser(ctx, "ann"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SessionUser(ctx, live); !errors.Is(err, ErrNotFound) {
		t.Fatalf("session of a removed user: %v", err)
	}
}

func TestAuditLog(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	for i, a := range []string{"login", "project.create", "project.delete"} {
		if err := s.Audit(ctx, AuditEntry{Actor: "ada", Action: a, Target: "project 1\n(cord)", Remote: "10.0.0.2"}); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	all, err := s.AuditLog(ctx, 0, 10)
	if err != nil || len(all) != 3 {
		t.Fatalf("log %+v %v", all, err)
	}
	if all[0].Action != "project.delete" || all[2].Action != "login" || all[0].Target != "project 1 (cord)" {
		t.Fatalf("newest first, one-line targets: %+v", all)
	}
	page, _ := s.AuditLog(ctx, all[0].ID, 1)
	if len(page) != 1 || page[0].ID != all[1].ID {
		t.Fatalf("page before %d: %+v", all[0].ID, page)
	}
	if time.Since(all[0].At) > time.Minute {
		t.Fatalf("entry time %v", all[0].At)
	}
}
