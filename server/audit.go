package server

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mriworkbench/workbench/store"
)

const maxAuditPage = 1000

// listAudit answers a page of the audit trail, newest first (?before=ID&limit=N).
func (s *Server) listAudit(c echo.Context) error {
	before, err := optionalInt(c, "before", 0)
	if err != nil {
		return err
	}
	limit, err := optionalInt(c, "limit", 200)
	if err != nil {
		return err
	}
	if limit < 1 || limit > maxAuditPage {
		return badRequest("limit must be between 1 and %d", maxAuditPage)
	}
	entries, err := s.store.AuditLog(c.Request().Context(), int64(before), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, entries)
}

// auditCSV streams the whole trail as CSV, oldest first in pages, for a spreadsheet.
func (s *Server) auditCSV(c echo.Context) error {
	ctx := c.Request().Context()
	var all []store.AuditEntry
	for before := int64(0); ; {
		page, err := s.store.AuditLog(ctx, before, maxAuditPage)
		if err != nil {
			return err
		}
		all = append(all, page...)
		if len(page) < maxAuditPage {
			break
		}
		before = page[len(page)-1].ID
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="audit.csv"`)
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	_ = w.Write([]string{"id", "time", "actor", "action", "target", "detail", "remote"})
	for i := len(all) - 1; i >= 0; i-- {
		e := all[i]
		_ = w.Write([]string{strconv.FormatInt(e.ID, 10), e.At.Format(time.RFC3339Nano), cell(e.Actor), e.Action,
			cell(e.Target), cell(e.Detail), e.Remote})
	}
	w.Flush()
	return w.Error()
}

// cell keeps a spreadsheet from reading a user-supplied value as a formula.
func cell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// listUsers lists the accounts (names and roles, never hashes).
func (s *Server) listUsers(c echo.Context) error {
	users, err := s.store.Users(c.Request().Context())
	if err != nil {
		return err
	}
	if users == nil {
		users = []store.User{}
	}
	return c.JSON(http.StatusOK, users)
}

func optionalInt(c echo.Context, name string, def int) (int, error) {
	raw := c.QueryParam(name)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 {
		return 0, badRequest("%s %q is not a non-negative integer", name, raw)
	}
	return n, nil
}

func projectTarget(p store.Project) string { return fmt.Sprintf("project %d (%s)", p.ID, p.Name) }

func volumeTarget(v store.VolumeMeta) string {
	return fmt.Sprintf("volume %d (%s) of project %d", v.ID, v.Name, v.ProjectID)
}

func labelTarget(v store.VolumeMeta, z int) string {
	return fmt.Sprintf("volume %d (%s) slice %d", v.ID, v.Name, z)
}

// changedFields names what a project update sets, for its audit entry.
func changedFields(req updateProjectRequest) string {
	var f []string
	if req.Name != nil {
		f = append(f, "name "+*req.Name)
	}
	if req.Classes != nil {
		f = append(f, fmt.Sprintf("%d classes", len(req.Classes)))
	}
	if req.CropW != nil || req.CropH != nil {
		f = append(f, "crop")
	}
	if req.Settings != nil {
		f = append(f, "settings")
	}
	if req.ReadsMode != nil {
		f = append(f, "reads mode "+*req.ReadsMode)
	}
	return strings.Join(f, ", ")
}
