package server

import (
	"github.com/labstack/echo/v4"
)

// events upgrades to a websocket that receives the project's events (internal/event's catalogue) until either side closes it.
func (s *Server) events(c echo.Context) error {
	pid, err := pathID(c, "pid")
	if err != nil {
		return err
	}
	if _, err := s.store.Project(c.Request().Context(), pid); err != nil {
		return err
	}
	return s.hub.serve(c.Response(), c.Request(), pid)
}
