// Package server is the workbench's HTTP API and the host of the embedded web app.
package server

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// Config is what the server needs from its caller.
type Config struct {
	Addr   string // listen address, e.g. 127.0.0.1:8080
	WebApp fs.FS  // built single-page app with index.html at its root
}

// Server wraps the echo instance with the workbench's routes.
type Server struct {
	cfg  Config
	echo *echo.Echo
}

// New builds the router; it does not listen yet.
func New(cfg Config) *Server {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.Use(middleware.Recover())
	s := &Server{cfg: cfg, echo: e}
	s.routes()
	return s
}

// Handler exposes the router, for tests with httptest.
func (s *Server) Handler() http.Handler { return s.echo }

func (s *Server) routes() {
	api := s.echo.Group("/api")
	api.GET("/health", s.health)
	api.Any("/*", func(c echo.Context) error {
		return echo.NewHTTPError(http.StatusNotFound, "no such API endpoint: "+c.Request().URL.Path)
	})
	// The SPA owns every other path: unknown paths fall back to index.html so deep links work.
	s.echo.Use(middleware.StaticWithConfig(middleware.StaticConfig{
		Filesystem: http.FS(s.cfg.WebApp),
		HTML5:      true,
	}))
}

func (s *Server) health(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// Run serves until ctx is cancelled, then shuts down gracefully, letting requests in flight finish.
func (s *Server) Run(ctx context.Context, ready func(addr string)) error {
	srv := &http.Server{Addr: s.cfg.Addr, Handler: s.echo, ReadHeaderTimeout: 10 * time.Second}
	ln, err := listen(s.cfg.Addr)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
