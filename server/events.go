package server

import (
	"github.com/labstack/echo/v4"
)

// Event types sent over /api/projects/{pid}/events. Each is one JSON object with a "type" field.
const (
	EventLabel  = "label"
	EventVolume = "volume"
)

// LabelEvent announces a new label version of a slice: a save, a deletion (Deleted) or a verification change.
type LabelEvent struct {
	Type     string `json:"type"` // EventLabel
	VolumeID int64  `json:"volumeId"`
	Slice    int    `json:"slice"`
	Version  int    `json:"version"`
	Author   string `json:"author"`
	Origin   string `json:"origin"`
	Verified bool   `json:"verified"`
	Deleted  bool   `json:"deleted"`
}

// VolumeEvent announces a newly imported volume.
type VolumeEvent struct {
	Type   string        `json:"type"` // EventVolume
	Volume volumeSummary `json:"volume"`
}

// events upgrades to a websocket that receives the project's events until either side closes it.
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
