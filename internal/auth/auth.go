// Package auth holds the workbench's credentials: password hashing with Argon2id (RFC 9106), the random
// secrets behind session cookies and API tokens, and a limiter for login attempts. It stores nothing; the
// store keeps the hashes it makes.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are Argon2id's cost parameters.
type Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultParams: 64 MiB, 2 passes, 2 lanes. RFC 9106's second recommended option is 64 MiB with 3 passes;
// 2 passes keep a login near 100 ms on a 2-core laptop (BenchmarkHashPassword), well under the 300 ms a
// login may take, while 64 MiB per guess keeps GPU cracking expensive. Hashes record their parameters, so
// raising them later leaves existing passwords valid.
var DefaultParams = Params{MemoryKiB: 64 * 1024, Time: 2, Threads: 2}

const (
	saltLen = 16
	keyLen  = 32
	// MinPasswordLen is the shortest password accepted.
	MinPasswordLen = 8
	// MaxPasswordLen bounds the KDF's input (a megabyte-long "password" is a denial of service).
	MaxPasswordLen = 1024
)

// ErrMismatch: the password does not match the hash.
var ErrMismatch = errors.New("wrong password")

// CheckPassword says why a new password is refused, in one line, or nil.
func CheckPassword(pw string) error {
	switch {
	case len(pw) < MinPasswordLen:
		return fmt.Errorf("password too short: at least %d characters", MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return fmt.Errorf("password too long: at most %d bytes", MaxPasswordLen)
	}
	return nil
}

// HashPassword returns the PHC string of pw: $argon2id$v=19$m=65536,t=2,p=2$salt$key.
func HashPassword(pw string, p Params) (string, error) {
	if err := CheckPassword(pw); err != nil {
		return "", err
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// VerifyPassword checks pw against a PHC string made by HashPassword: nil, ErrMismatch, or an error for a
// malformed hash.
func VerifyPassword(pw, hash string) error {
	p, salt, key, err := parseHash(hash)
	if err != nil {
		return err
	}
	if len(pw) > MaxPasswordLen {
		return ErrMismatch
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(key)))
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return ErrMismatch
	}
	return nil
}

func parseHash(hash string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("not an argon2id password hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, fmt.Errorf("unsupported argon2 version %q", parts[2])
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil ||
		p.MemoryKiB == 0 || p.Time == 0 || p.Threads == 0 {
		return p, nil, nil, fmt.Errorf("bad argon2 parameters %q", parts[3])
	}
	enc := base64.RawStdEncoding
	if salt, err = enc.DecodeString(parts[4]); err != nil {
		return p, nil, nil, errors.New("bad argon2 salt")
	}
	if key, err = enc.DecodeString(parts[5]); err != nil || len(key) == 0 {
		return p, nil, nil, errors.New("bad argon2 key")
	}
	return p, salt, key, nil
}

// NewSecret returns a random secret for a session cookie or an API token (256 bits, URL-safe) with the
// prefix given, and the hash under which it is stored.
func NewSecret(prefix string) (secret string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	secret = prefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, HashSecret(secret), nil
}

// HashSecret is the stored form of a secret. The secrets are random and long, so a fast hash suffices: a
// stolen database cannot be turned back into cookies or tokens.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}
