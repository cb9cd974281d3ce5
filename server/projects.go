package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/store"
)

// projectListItem is a project with the counts the project list shows.
type projectListItem struct {
	store.Project
	VolumeCount    int `json:"volumeCount"`
	SliceCount     int `json:"sliceCount"`
	LabelledSlices int `json:"labelledSlices"`
}

type createProjectRequest struct {
	Name     string          `json:"name"`
	Classes  []store.Class   `json:"classes"`
	Settings json.RawMessage `json:"settings"`
}

// updateProjectRequest changes only the fields present.
type updateProjectRequest struct {
	Name      *string         `json:"name"`
	Classes   []store.Class   `json:"classes"`
	CropW     *int            `json:"cropW"`
	CropH     *int            `json:"cropH"`
	Settings  json.RawMessage `json:"settings"`
	ReadsMode *string         `json:"readsMode"`
}

func (s *Server) listProjects(c echo.Context) error {
	projects, err := s.store.Projects(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]projectListItem, len(projects))
	for i, p := range projects {
		out[i] = projectListItem{Project: p.Project, VolumeCount: p.Volumes, SliceCount: p.Slices, LabelledSlices: p.LabelledSlices}
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) createProject(c echo.Context) error {
	var req createProjectRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	p, err := s.store.CreateProject(c.Request().Context(), req.Name, req.Classes, req.Settings)
	if err != nil {
		return err
	}
	s.audit(c, "project.create", projectTarget(p), "")
	c.Response().Header().Set(echo.HeaderLocation, "/api/projects/"+strconv.FormatInt(p.ID, 10))
	return c.JSON(http.StatusCreated, p)
}

func (s *Server) getProject(c echo.Context) error {
	pid, err := pathID(c, "pid")
	if err != nil {
		return err
	}
	p, err := s.store.Project(c.Request().Context(), pid)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

func (s *Server) updateProject(c echo.Context) error {
	pid, err := pathID(c, "pid")
	if err != nil {
		return err
	}
	var req updateProjectRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	// JSON null and an absent field both mean "unchanged".
	if string(req.Settings) == "null" {
		req.Settings = nil
	}
	p, err := s.store.UpdateProject(c.Request().Context(), pid, store.ProjectUpdate{
		Name: req.Name, Classes: req.Classes, CropW: req.CropW, CropH: req.CropH, Settings: req.Settings,
		ReadsMode: req.ReadsMode,
	})
	if err != nil {
		return err
	}
	s.audit(c, "project.update", projectTarget(p), changedFields(req))
	return c.JSON(http.StatusOK, p)
}

// deleteProject removes a project with its volumes, labels, runs, models, predictions and their files. It is
// refused while one of its runs is queued or running.
func (s *Server) deleteProject(c echo.Context) error {
	pid, err := pathID(c, "pid")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p, err := s.store.Project(ctx, pid)
	if err != nil {
		return err
	}
	if err := s.refuseDuringRun(ctx, pid, fmt.Sprintf("project %q", p.Name)); err != nil {
		return err
	}
	volumes, err := s.store.Volumes(ctx, pid)
	if err != nil {
		return err
	}
	if err := s.store.DeleteProject(ctx, pid); err != nil {
		return err
	}
	s.audit(c, "project.delete", projectTarget(p), fmt.Sprintf("%d volumes", len(volumes)))
	for _, v := range volumes {
		s.volumes.evict(v.ID)
	}
	s.hub.Publish(pid, event.ProjectDeleted{ProjectID: pid})
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) reviewQueue(c echo.Context) error {
	pid, err := pathID(c, "pid")
	if err != nil {
		return err
	}
	limit := 100
	if q := c.QueryParam("limit"); q != "" {
		if limit, err = strconv.Atoi(q); err != nil || limit < 1 || limit > 10000 {
			return badRequest("limit %q must be an integer from 1 to 10000", q)
		}
	}
	order := store.QueueSpread
	switch q := c.QueryParam("order"); q {
	case "", store.QueueSpread:
	case store.QueueUncertainty:
		order = q
	default:
		return badRequest("order %q must be %q or %q", q, store.QueueSpread, store.QueueUncertainty)
	}
	items, err := s.store.ReviewQueueBy(c.Request().Context(), pid, limit, order)
	if err != nil {
		return err
	}
	if items == nil {
		items = []store.QueueItem{}
	}
	return c.JSON(http.StatusOK, items)
}

// pathID parses a positive integer id from the route.
func pathID(c echo.Context, name string) (int64, error) {
	raw := c.Param(name)
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.NewHTTPError(http.StatusNotFound, "no such id: "+strconv.Quote(raw))
	}
	return id, nil
}

// pathInt parses a non-negative integer (a slice index or version) from the route.
func pathInt(c echo.Context, name string) (int, error) {
	raw := c.Param(name)
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		return 0, badRequest("%s %q is not a non-negative integer", name, raw)
	}
	return n, nil
}
