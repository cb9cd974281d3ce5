package server

import (
	"github.com/labstack/echo/v4"
)

// contentSecurityPolicy is what the web app needs and nothing more: its script, styles and data from this
// server only (images also from data: and blob: URLs, which slice thumbnails and downloads use), no inline
// script or style element, and no framing by any page (a framed app would pass the Origin check while an
// attacker's page steers the clicks). Styles set through the DOM's style property are not inline styles.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// securityHeaders sets the response headers every answer carries: API JSON, the app's files, errors and 404s.
// It runs before routing (echo's Pre), so the error handler writes its answers with them too.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY") // for browsers without CSP frame-ancestors
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if c.Request().TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		return next(c)
	}
}
