package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Cheap parameters keep the tests fast; DefaultParams are measured by the benchmark.
var testParams = Params{MemoryKiB: 1024, Time: 1, Threads: 1}

func TestHashAndVerify(t *testing.T) {
	h, err := HashPassword("correct horse", testParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string with its parameters", h)
	}
	if err := VerifyPassword("correct horse", h); err != nil {
		t.Fatalf("right password: %v", err)
	}
	if err := VerifyPassword("correct horsf", h); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong password: %v, want ErrMismatch", err)
	}
	h2, _ := HashPassword("correct horse", testParams)
	if h2 == h {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

// The fixture was made by the reference implementation's Python binding (argon2-cffi), independent of
// golang.org/x/crypto: `testdata/gen_reference.py` writes it.
func TestVerifyReferenceHash(t *testing.T) {
	const ref = referenceHash
	if err := VerifyPassword(referencePassword, ref); err != nil {
		t.Fatalf("reference hash does not verify: %v", err)
	}
	if err := VerifyPassword(referencePassword+"x", ref); !errors.Is(err, ErrMismatch) {
		t.Fatalf("wrong password against the reference hash: %v", err)
	}
}

func TestPasswordRules(t *testing.T) {
	if _, err := HashPassword("short", testParams); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("short password: %v", err)
	}
	if _, err := HashPassword(strings.Repeat("x", MaxPasswordLen+1), testParams); err == nil {
		t.Fatal("a password longer than the limit was hashed")
	}
}

func TestMalformedHashes(t *testing.T) {
	for _, h := range []string{"", "plain", "$argon2i$v=19$m=1,t=1,p=1$AAAA$AAAA", "$argon2id$v=16$m=1024,t=1,p=1$AAAA$AAAA",
		"$argon2id$v=19$m=0,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=1024,t=1,p=1$!!$AAAA", "$argon2id$v=19$m=1024,t=1,p=1$AAAA$"} {
		err := VerifyPassword("whatever1", h)
		if err == nil || errors.Is(err, ErrMismatch) {
			t.Errorf("hash %q: %v, want a malformed-hash error", h, err)
		}
	}
}

func TestSecrets(t *testing.T) {
	a, ha, err := NewSecret("wbt_")
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := NewSecret("wbt_")
	if a == b || !strings.HasPrefix(a, "wbt_") || len(a) < 40 {
		t.Fatalf("secrets %q and %q", a, b)
	}
	if string(HashSecret(a)) != string(ha) || len(ha) != 32 {
		t.Fatal("HashSecret disagrees with the hash NewSecret returned")
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewLimiter(3, time.Minute)
	l.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if blocked, _ := l.Blocked("ip"); blocked {
			t.Fatalf("blocked after %d failures", i)
		}
		l.Fail("ip")
		now = now.Add(10 * time.Second)
	}
	blocked, wait := l.Blocked("ip")
	if !blocked || wait != 30*time.Second {
		t.Fatalf("after 3 failures: blocked %v, wait %v; want true, 30s", blocked, wait)
	}
	if blocked, _ := l.Blocked("other"); blocked {
		t.Fatal("another key is blocked")
	}
	now = now.Add(31 * time.Second)
	if blocked, _ := l.Blocked("ip"); blocked {
		t.Fatal("still blocked once the oldest failure left the window")
	}
	l.Fail("ip")
	l.Succeed("ip")
	if len(l.failures) != 0 {
		t.Fatalf("failures kept after success: %v", l.failures)
	}
}

// BenchmarkHashPassword measures a login's KDF with the default parameters (target: well under 300 ms).
func BenchmarkHashPassword(b *testing.B) {
	h, err := HashPassword("a lab password", DefaultParams)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyPassword("a lab password", h); err != nil {
			b.Fatal(err)
		}
	}
}
