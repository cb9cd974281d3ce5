package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// AuditEntry is one recorded state change: who did what to what, when, from where.
type AuditEntry struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`  // the user's name; "cli" for local commands; "" when nobody logged in (zero-config)
	Action string    `json:"action"` // e.g. "project.delete", "login.failed"
	Target string    `json:"target"` // e.g. "project 3 (cord)"
	Detail string    `json:"detail"`
	Remote string    `json:"remote"` // the client's address
}

// Audit records an entry; At is set to now when zero.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	at := s.stamp()
	if !e.At.IsZero() {
		at = e.At.UnixMilli()
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (at, actor, action, target, detail, remote) VALUES (?, ?, ?, ?, ?, ?)`,
			at, e.Actor, e.Action, OneLine(e.Target), OneLine(e.Detail), e.Remote)
		if err != nil {
			return fmt.Errorf("record audit entry: %w", err)
		}
		return nil
	})
}

// AuditLog lists entries newest first: up to limit entries with ids below before (0: from the newest).
func (s *Store) AuditLog(ctx context.Context, before int64, limit int) ([]AuditEntry, error) {
	if before <= 0 {
		before = 1 << 62
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, at, actor, action, target, detail, remote FROM audit_log
		WHERE id < ? ORDER BY id DESC LIMIT ?`, before, limit)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.Remote); err != nil {
			return nil, err
		}
		e.At = fromMillis(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
