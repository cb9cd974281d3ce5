package server

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// hostPolicy decides which Host headers the API answers. A page on an attacker's domain can make that
// domain resolve to this machine (DNS rebinding) and then talk to the server as its own origin; the Host
// header still carries the attacker's name, so only names the server knows it is reached by are answered.
type hostPolicy struct {
	names map[string]bool // lower-case host names allowed besides loopback names and IP addresses
}

// newHostPolicy allows the listen address's host name (when it is a name) and the extra names given.
func newHostPolicy(addr string, allowed []string) hostPolicy {
	p := hostPolicy{names: make(map[string]bool)}
	for _, h := range append([]string{addr}, allowed...) {
		if name := normalHost(h); name != "" && net.ParseIP(name) == nil {
			p.names[name] = true
		}
	}
	return p
}

// normalHost is a Host header's (or address's) host, lower case, without port, brackets or trailing dot.
func normalHost(hostport string) string {
	h := strings.TrimSpace(hostOnly(strings.TrimSpace(hostport)))
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// allows reports whether a request addressed to hostport is answered: loopback names and any IP address
// (no DNS is involved, so nothing can be rebound), and the configured names.
func (p hostPolicy) allows(hostport string) bool {
	h := normalHost(hostport)
	switch {
	case h == "":
		return false
	case h == "localhost" || strings.HasSuffix(h, ".localhost"):
		return true
	case net.ParseIP(h) != nil:
		return true
	}
	return p.names[h]
}

// LoopbackAddr reports whether a listen address can be reached from this machine only: a loopback name or
// address. An empty host, as in ":8080", listens on every interface.
func LoopbackAddr(addr string) bool {
	h := normalHost(addr)
	return h == "localhost" || strings.HasSuffix(h, ".localhost") || isLoopbackHost(h)
}

// stateChanging reports whether a method may change data, so that a cross-site request must be refused.
func stateChanging(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// guard refuses API requests addressed to a host name the server does not know (DNS rebinding), and
// state-changing requests whose Origin is another site (cross-site request forgery: a form or a no-cors
// fetch on any web page can POST here without reading the answer). Browsers send Origin with every
// cross-origin POST, PUT, PATCH and DELETE; clients that send none (curl, the CLI) are not browsers.
func (s *Server) guard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if !s.hosts.allows(req.Host) {
			return echo.NewHTTPError(http.StatusForbidden, fmt.Sprintf(
				"requests addressed to host %q are refused; a deliberate deployment under that name must allow it (server.Config.AllowedHosts)", req.Host))
		}
		if stateChanging(req.Method) && !checkOrigin(req) {
			return echo.NewHTTPError(http.StatusForbidden, fmt.Sprintf(
				"cross-origin request from %q refused: changes are accepted from the workbench's own pages only", req.Header.Get("Origin")))
		}
		return next(c)
	}
}
