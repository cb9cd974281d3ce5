package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Role is what a user may do. Each role includes the ones below it: annotators paint, accept and correct;
// reviewers also verify, train, promote models and see everyone's labels; admins also delete volumes and
// projects and manage users.
type Role string

// Roles, lowest first.
const (
	RoleAnnotator Role = "annotator"
	RoleReviewer  Role = "reviewer"
	RoleAdmin     Role = "admin"
)

var roleRank = map[Role]int{RoleAnnotator: 1, RoleReviewer: 2, RoleAdmin: 3}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	if _, ok := roleRank[Role(s)]; !ok {
		return "", invalid("unknown role %q: want admin, reviewer or annotator", s)
	}
	return Role(s), nil
}

// Includes reports whether a user with role r may do what needs role need.
func (r Role) Includes(need Role) bool { return roleRank[r] >= roleRank[need] && roleRank[r] > 0 }

// User is an account. Its password hash never leaves the store but through UserCredentials.
type User struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	CreatedAt time.Time `json:"createdAt"`
}

var userNamePattern = regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N}._@-]{0,63}$`)

func validateUserName(name string) error {
	if !userNamePattern.MatchString(name) {
		return invalid("user name %q: want 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", name)
	}
	return nil
}

const userColumns = `u.id, u.name, u.role, u.created_at`

func scanUser(row rowScanner, extra ...any) (User, error) {
	var u User
	var created int64
	if err := row.Scan(append([]any{&u.ID, &u.Name, &u.Role, &created}, extra...)...); err != nil {
		return User{}, err
	}
	u.CreatedAt = fromMillis(created)
	return u, nil
}

// CreateUser adds an account; passwordHash is the caller's KDF output (internal/auth).
func (s *Store) CreateUser(ctx context.Context, name string, role Role, passwordHash string) (User, error) {
	if err := validateUserName(name); err != nil {
		return User{}, err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return User{}, err
	}
	if passwordHash == "" {
		return User{}, invalid("a user needs a password")
	}
	var id int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)`,
			name, string(role), passwordHash, s.stamp())
		if isUnique(err) {
			return fmt.Errorf("%w: user %q already exists", ErrConflict, name)
		}
		if err != nil {
			return fmt.Errorf("create user: %w", err)
		}
		id, _ = res.LastInsertId()
		return nil
	})
	if err != nil {
		return User{}, err
	}
	return s.userWhere(ctx, `u.id = ?`, id)
}

func (s *Store) userWhere(ctx context.Context, cond string, args ...any) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users u WHERE `+cond, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("%w: no such user", ErrNotFound)
	}
	return u, err
}

// UserByName finds an account by name, ignoring case.
func (s *Store) UserByName(ctx context.Context, name string) (User, error) {
	u, err := s.userWhere(ctx, `u.name = ?`, name)
	if errors.Is(err, ErrNotFound) {
		return User{}, fmt.Errorf("%w: no user %q", ErrNotFound, name)
	}
	return u, err
}

// UserCredentials returns an account and its password hash, for a login.
func (s *Store) UserCredentials(ctx context.Context, name string) (User, string, error) {
	var hash string
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+`, u.password_hash FROM users u WHERE u.name = ?`, name), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, "", fmt.Errorf("%w: no user %q", ErrNotFound, name)
	}
	return u, hash, err
}

// Users lists the accounts by name.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userColumns+` FROM users u ORDER BY u.name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// UserCounts is how many accounts there are, and how many of them are admins.
func (s *Store) UserCounts(ctx context.Context) (users, admins int, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(*) FILTER (WHERE role = 'admin') FROM users`).Scan(&users, &admins)
	if err != nil {
		return 0, 0, fmt.Errorf("count users: %w", err)
	}
	return users, admins, nil
}

// SetPassword replaces a user's password hash and ends the user's sessions: a changed password logs out
// every browser that knew the old one. API tokens are revoked separately (RevokeTokens).
func (s *Store) SetPassword(ctx context.Context, name, passwordHash string) error {
	if passwordHash == "" {
		return invalid("a user needs a password")
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		id, err := userID(ctx, tx, name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, passwordHash, id); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id)
		return err
	})
}

// SetRole changes a user's role; the last admin cannot be demoted.
func (s *Store) SetRole(ctx context.Context, name string, role Role) error {
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		id, err := userID(ctx, tx, name)
		if err != nil {
			return err
		}
		if role != RoleAdmin {
			if err := keepAnAdmin(ctx, tx, id, "demoted"); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE users SET role = ? WHERE id = ?`, string(role), id)
		return err
	})
}

// RemoveUser deletes an account with its sessions and tokens; the labels it wrote keep its name. The last
// admin cannot be removed: nobody could manage the server afterwards.
func (s *Store) RemoveUser(ctx context.Context, name string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		id, err := userID(ctx, tx, name)
		if err != nil {
			return err
		}
		if err := keepAnAdmin(ctx, tx, id, "removed"); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
		return err
	})
}

func userID(ctx context.Context, q querier, name string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM users WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("%w: no user %q", ErrNotFound, name)
	}
	return id, err
}

// keepAnAdmin refuses a change that would leave no admin but the user being changed.
func keepAnAdmin(ctx context.Context, q querier, id int64, change string) error {
	var others int
	var isAdmin bool
	err := q.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM users WHERE role = 'admin' AND id <> ?),
		(SELECT role = 'admin' FROM users WHERE id = ?)`, id, id).Scan(&others, &isAdmin)
	if err != nil {
		return err
	}
	if isAdmin && others == 0 {
		return fmt.Errorf("%w: the last admin cannot be %s; add another admin first", ErrConflict, change)
	}
	return nil
}

// CreateSession records a login; secretHash is the hash of the cookie's secret.
func (s *Store) CreateSession(ctx context.Context, userID int64, secretHash []byte, expires time.Time) error {
	now := s.stamp()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		// Expired sessions go when new ones come: the table stays the size of the logged-in lab.
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (secret_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			secretHash, userID, now, expires.UnixMilli())
		return err
	})
}

// SessionUser is the user of a live session and when the session expires; ErrNotFound when the session is
// unknown or expired.
func (s *Store) SessionUser(ctx context.Context, secretHash []byte) (User, time.Time, error) {
	var expires int64
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+`, s.expires_at FROM sessions s
		JOIN users u ON u.id = s.user_id WHERE s.secret_hash = ? AND s.expires_at > ?`, secretHash, s.stamp()), &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, time.Time{}, fmt.Errorf("%w: no such session, or it expired", ErrNotFound)
	}
	return u, fromMillis(expires), err
}

// ExtendSession moves a live session's expiry.
func (s *Store) ExtendSession(ctx context.Context, secretHash []byte, expires time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE sessions SET expires_at = ? WHERE secret_hash = ?`, expires.UnixMilli(), secretHash)
		return err
	})
}

// DeleteSession ends a session (logout).
func (s *Store) DeleteSession(ctx context.Context, secretHash []byte) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE secret_hash = ?`, secretHash)
		return err
	})
}

// CreateToken records an API token of the user; secretHash is the hash of the token the user is given.
func (s *Store) CreateToken(ctx context.Context, name string, secretHash []byte) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		id, err := userID(ctx, tx, name)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO api_tokens (secret_hash, user_id, created_at) VALUES (?, ?, ?)`,
			secretHash, id, s.stamp())
		return err
	})
}

// TokenUser is the user of an unrevoked API token; ErrNotFound otherwise.
func (s *Store) TokenUser(ctx context.Context, secretHash []byte) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM api_tokens t
		JOIN users u ON u.id = t.user_id WHERE t.secret_hash = ? AND t.revoked_at IS NULL`, secretHash))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("%w: no such token, or it was revoked", ErrNotFound)
	}
	return u, err
}

// RevokeTokens revokes every API token of the user and says how many were live.
func (s *Store) RevokeTokens(ctx context.Context, name string) (int, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		id, err := userID(ctx, tx, name)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`, s.stamp(), id)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}
