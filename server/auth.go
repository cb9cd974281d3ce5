package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mriworkbench/workbench/internal/auth"
	"github.com/mriworkbench/workbench/store"
)

const (
	sessionCookie   = "workbench_session"
	sessionPrefix   = "wbs_"
	tokenPrefix     = "wbt_"
	sessionLifetime = 12 * time.Hour // idle time after which a session ends; each use within it extends it
	// sessionRenewAfter: a session is extended at most this often, so that reads do not all write.
	sessionRenewAfter = 10 * time.Minute
	accountsTTL       = 2 * time.Second // how long the "are there users" answer is cached: the CLI adds them
	// sessionCacheTTL: how long a session's user is remembered without asking the database. Logout takes
	// effect at once; a password, role or removal changed by the CLI (another process) within this time.
	sessionCacheTTL = 3 * time.Second
	actorKey        = "workbench.actor"
)

// Login limits: per user name (password guessing against one account) and per client address (spraying).
const (
	loginFailuresPerUser = 5
	loginFailuresPerAddr = 30
	loginWindow          = 5 * time.Minute
	loginKDFs            = 2 // password hashes computed at once; more logins wait (each takes 64 MiB)
)

// Actor is who makes a request. In zero-config mode (loopback, no accounts) nobody is authenticated, the
// actor is an admin and its name is what the client says (X-Author).
type Actor struct {
	Name          string     `json:"name"`
	Role          store.Role `json:"role"`
	Authenticated bool       `json:"authenticated"`
}

// accounts decides whether requests must be authenticated, and verifies logins.
type accounts struct {
	loopback             bool
	userLimit, addrLimit *auth.Limiter
	kdf                  chan struct{}
	params               auth.Params

	mu        sync.Mutex
	haveUsers bool
	checked   time.Time

	dummyOnce sync.Once
	dummy     string // a hash to verify against for unknown names, so that they take as long as known ones

	sessionsMu sync.Mutex
	sessions   map[string]cachedSession // by secret hash: label saves come several a second per annotator
}

type cachedSession struct {
	actor   Actor
	expires time.Time // the session's own expiry
	fresh   time.Time // until when the entry may be used without the database
}

func (a *accounts) cachedSession(hash []byte) (Actor, bool) {
	a.sessionsMu.Lock()
	defer a.sessionsMu.Unlock()
	e, ok := a.sessions[string(hash)]
	if !ok || time.Now().After(e.fresh) || time.Now().After(e.expires) {
		return Actor{}, false
	}
	return e.actor, true
}

func (a *accounts) cacheSession(hash []byte, actor Actor, expires time.Time) {
	a.sessionsMu.Lock()
	defer a.sessionsMu.Unlock()
	if a.sessions == nil || len(a.sessions) > 10000 {
		a.sessions = make(map[string]cachedSession)
	}
	a.sessions[string(hash)] = cachedSession{actor: actor, expires: expires, fresh: time.Now().Add(sessionCacheTTL)}
}

func (a *accounts) forgetSession(hash []byte) {
	a.sessionsMu.Lock()
	defer a.sessionsMu.Unlock()
	delete(a.sessions, string(hash))
}

func newAccounts(addr string, params auth.Params) *accounts {
	return &accounts{loopback: LoopbackAddr(addr), params: params, kdf: make(chan struct{}, loginKDFs),
		userLimit: auth.NewLimiter(loginFailuresPerUser, loginWindow),
		addrLimit: auth.NewLimiter(loginFailuresPerAddr, loginWindow)}
}

// required reports whether requests need a session or token: off loopback always, on loopback once users exist.
func (s *Server) accountsRequired(ctx context.Context) (bool, error) {
	a := s.accounts
	if !a.loopback {
		return true, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.haveUsers || time.Since(a.checked) < accountsTTL {
		return a.haveUsers, nil // accounts, once there, stay required: removing the last admin is refused
	}
	n, _, err := s.store.UserCounts(ctx)
	if err != nil {
		return true, err
	}
	a.haveUsers, a.checked = n > 0, time.Now()
	return a.haveUsers, nil
}

// unauthenticated answers 401 with one line.
func unauthenticated(format string, args ...any) error {
	return echo.NewHTTPError(http.StatusUnauthorized, fmt.Sprintf(format, args...))
}

// authenticate finds the request's actor from its session cookie or bearer token. Where accounts are
// required, a request with neither gets 401, but for the exempt routes (health, login).
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		exempt := req.URL.Path == "/api/health" || req.URL.Path == "/api/auth/login"
		if s.store == nil {
			return next(c)
		}
		actor, idErr := s.identify(c)
		if actor == nil {
			required, err := s.accountsRequired(req.Context())
			if err != nil {
				return err
			}
			switch {
			case exempt:
				actor = &Actor{}
			case required && idErr != nil:
				return idErr
			case required:
				return unauthenticated("sign in first: this workbench has accounts")
			default: // zero-config: a stale cookie or token from an earlier setup is ignored
				name, err := authorOf(c, "")
				if err != nil {
					return err
				}
				actor = &Actor{Name: name, Role: store.RoleAdmin}
			}
		}
		c.Set(actorKey, *actor)
		return next(c)
	}
}

// identify resolves a bearer token or a session cookie; nil when the request carries neither.
func (s *Server) identify(c echo.Context) (*Actor, error) {
	req := c.Request()
	ctx := req.Context()
	if h := req.Header.Get("Authorization"); h != "" {
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || !strings.HasPrefix(token, tokenPrefix) {
			return nil, unauthenticated("the Authorization header must be \"Bearer\" and a workbench API token (workbench user token NAME)")
		}
		u, err := s.store.TokenUser(ctx, auth.HashSecret(token))
		if err != nil {
			return nil, unauthenticated("the API token is unknown or was revoked")
		}
		return &Actor{Name: u.Name, Role: u.Role, Authenticated: true}, nil
	}
	cookie, err := req.Cookie(sessionCookie)
	if err != nil || cookie.Value == "" {
		return nil, nil
	}
	hash := auth.HashSecret(cookie.Value)
	if a, ok := s.accounts.cachedSession(hash); ok {
		return &a, nil
	}
	u, expires, err := s.store.SessionUser(ctx, hash)
	if err != nil {
		return nil, unauthenticated("your session has ended; sign in again")
	}
	if renew := time.Now().Add(sessionLifetime); renew.Sub(expires) > sessionRenewAfter {
		if err := s.store.ExtendSession(ctx, hash, renew); err != nil {
			s.log.Warn("cannot extend a session", "user", u.Name, "err", err)
		} else {
			expires = renew
		}
	}
	a := Actor{Name: u.Name, Role: u.Role, Authenticated: true}
	s.accounts.cacheSession(hash, a, expires)
	return &a, nil
}

// actorOf is the request's actor, set by authenticate.
func actorOf(c echo.Context) Actor {
	a, _ := c.Get(actorKey).(Actor)
	return a
}

// require refuses a request whose actor's role does not include need (403, naming the role needed).
func (s *Server) require(need store.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			a := actorOf(c)
			if !a.Role.Includes(need) {
				who := "you are"
				if a.Name != "" {
					who = a.Name + " is"
				}
				role := string(a.Role)
				if role == "" {
					role = "not signed in"
				} else {
					role = "an " + role
					if a.Role == store.RoleReviewer {
						role = "a reviewer"
					}
				}
				return echo.NewHTTPError(http.StatusForbidden, fmt.Sprintf("this needs the %s role; %s %s", need, who, role))
			}
			return next(c)
		}
	}
}

// authorFor is the name a label version records: the authenticated user, never what the client says;
// in zero-config mode the name given in the body or X-Author.
func (s *Server) authorFor(c echo.Context, fromBody string) (string, error) {
	if a := actorOf(c); a.Authenticated {
		return a.Name, nil
	}
	return authorOf(c, fromBody)
}

// remoteAddr is the client's address as the connection shows it. Forwarded headers are not trusted: any
// client can send them.
func remoteAddr(c echo.Context) string {
	host, _, err := net.SplitHostPort(c.Request().RemoteAddr)
	if err != nil {
		return c.Request().RemoteAddr
	}
	return host
}

// audit records a state change by the request's actor. The change has happened: a failure to record it is
// logged, not returned.
func (s *Server) audit(c echo.Context, action, target, detail string) {
	s.auditAs(c, actorOf(c).Name, action, target, detail)
}

func (s *Server) auditAs(c echo.Context, actor, action, target, detail string) {
	err := s.store.Audit(context.WithoutCancel(c.Request().Context()), store.AuditEntry{
		Actor: actor, Action: action, Target: target, Detail: detail, Remote: remoteAddr(c)})
	if err != nil {
		s.log.Error("cannot record audit entry", "action", action, "target", target, "err", err)
	}
}
