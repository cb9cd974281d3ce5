package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mriworkbench/workbench/internal/auth"
	"github.com/mriworkbench/workbench/store"
)

type loginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// session is what the app learns about who it is signed in as.
type sessionInfo struct {
	Actor
	AccountsRequired bool `json:"accountsRequired"`
}

// login checks a name and password and starts a session in an HttpOnly, SameSite=Strict cookie (Secure
// under TLS). Failures are counted per name and per client address; a blocked one gets 429 before any
// password is hashed. Neither the password nor the cookie appears in a log line or a message.
func (s *Server) login(c echo.Context) error {
	var req loginRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	name := strings.TrimSpace(req.Name)
	if name == "" || req.Password == "" || len(name) > 100 {
		return badRequest("sign in with a user name and a password")
	}
	userKey, addrKey := "user:"+strings.ToLower(name), "addr:"+remoteAddr(c)
	for _, key := range []struct {
		l *auth.Limiter
		k string
	}{{s.accounts.userLimit, userKey}, {s.accounts.addrLimit, addrKey}} {
		if blocked, wait := key.l.Blocked(key.k); blocked {
			secs := int(wait.Seconds()) + 1
			c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
			s.auditAs(c, name, "login.blocked", "user "+name, "too many failed sign-ins")
			return echo.NewHTTPError(http.StatusTooManyRequests,
				fmt.Sprintf("too many failed sign-ins; try again in %s", (time.Duration(secs)*time.Second).String()))
		}
	}
	u, ok, err := s.checkPassword(c, name, req.Password)
	if err != nil {
		return err
	}
	if !ok {
		s.accounts.userLimit.Fail(userKey)
		s.accounts.addrLimit.Fail(addrKey)
		s.auditAs(c, name, "login.failed", "user "+name, "")
		return unauthenticated("wrong user name or password")
	}
	s.accounts.userLimit.Succeed(userKey)
	secret, hash, err := auth.NewSecret(sessionPrefix)
	if err != nil {
		return err
	}
	if err := s.store.CreateSession(c.Request().Context(), u.ID, hash, time.Now().Add(sessionLifetime)); err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: secret, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secureRequest(c)})
	s.auditAs(c, u.Name, "login", "user "+u.Name, "")
	return c.JSON(http.StatusOK, sessionInfo{Actor: Actor{Name: u.Name, Role: u.Role, Authenticated: true}, AccountsRequired: true})
}

// checkPassword verifies against the stored hash, or against a dummy one for an unknown name so that both
// take the KDF's time. At most loginKDFs hashes run at once.
func (s *Server) checkPassword(c echo.Context, name, password string) (store.User, bool, error) {
	ctx := c.Request().Context()
	select {
	case s.accounts.kdf <- struct{}{}:
		defer func() { <-s.accounts.kdf }()
	case <-ctx.Done():
		return store.User{}, false, ctx.Err()
	}
	u, hash, err := s.store.UserCredentials(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		_ = auth.VerifyPassword(password, s.dummyHash())
		return store.User{}, false, nil
	}
	if err != nil {
		return store.User{}, false, err
	}
	switch err := auth.VerifyPassword(password, hash); {
	case err == nil:
		return u, true, nil
	case errors.Is(err, auth.ErrMismatch):
		return u, false, nil
	default:
		s.log.Error("stored password hash is unreadable", "user", u.Name, "err", err)
		return u, false, nil
	}
}

func (s *Server) dummyHash() string {
	a := s.accounts
	a.dummyOnce.Do(func() { a.dummy, _ = auth.HashPassword("no such user, no such password", a.params) })
	return a.dummy
}

// secureRequest reports whether the client reached us over TLS, directly or through a proxy that says so.
// Trusting the proxy's header here can only make the cookie stricter.
func secureRequest(c echo.Context) bool {
	return c.Request().TLS != nil || strings.EqualFold(c.Request().Header.Get("X-Forwarded-Proto"), "https")
}

// logout ends the session and clears its cookie.
func (s *Server) logout(c echo.Context) error {
	if cookie, err := c.Request().Cookie(sessionCookie); err == nil && cookie.Value != "" {
		hash := auth.HashSecret(cookie.Value)
		s.accounts.forgetSession(hash)
		if err := s.store.DeleteSession(c.Request().Context(), hash); err != nil {
			return err
		}
		if a := actorOf(c); a.Authenticated {
			s.audit(c, "logout", "user "+a.Name, "")
		}
	}
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secureRequest(c)})
	return c.NoContent(http.StatusNoContent)
}

// me says who the app is signed in as (zero-config: an unauthenticated admin).
func (s *Server) me(c echo.Context) error {
	required, err := s.accountsRequired(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sessionInfo{Actor: actorOf(c), AccountsRequired: required})
}
