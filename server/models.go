package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/internal/export"
	"github.com/mriworkbench/workbench/internal/job"
	"github.com/mriworkbench/workbench/store"
)

// runDetail is a run with its stored progress events, enough to redraw its loss curves after a reload.
type runDetail struct {
	store.Run
	Events []store.RunEvent `json:"events"`
}

// startTraining queues a run (202) that trains in the background in a worker process; 409 names the run
// already going, 400 an invalid setting, an initial model that does not fit, or a memory estimate over the
// budget. A JSON body is the job.Request; a multipart body starts from a model file (see readTrainForm).
func (s *Server) startTraining(c echo.Context) error {
	pid, err := pathID(c, "pid")
	if err != nil {
		return err
	}
	var req job.Request
	if mt, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType)); mt == "multipart/form-data" {
		if err := s.readTrainForm(c, &req); err != nil {
			return err
		}
	} else if c.Request().ContentLength != 0 {
		if err := s.decodeJSON(c, &req); err != nil {
			return err
		}
	}
	run, err := s.trainer.Start(c.Request().Context(), pid, req)
	if err != nil {
		return err
	}
	detail := fmt.Sprintf("run %d", run.ID)
	if req.InitModel != nil {
		detail += fmt.Sprintf(" from model file %q", store.OneLine(req.InitModelName))
	}
	s.audit(c, "training.start", fmt.Sprintf("project %d", pid), detail)
	c.Response().Header().Set(echo.HeaderLocation, "/api/runs/"+strconv.FormatInt(run.ID, 10))
	return c.JSON(http.StatusAccepted, run)
}

// readTrainForm reads a training request that starts from a model file: multipart/form-data with the file in
// the field "model" (under the upload limit) and, optionally, the JSON job.Request in the field "request".
func (s *Server) readTrainForm(c echo.Context, req *job.Request) error {
	r := c.Request()
	if r.ContentLength > s.cfg.MaxUploadBytes {
		c.Response().Header().Set(echo.HeaderConnection, "close")
		return uploadTooLarge(r.ContentLength, s.cfg.MaxUploadBytes)
	}
	r.Body = http.MaxBytesReader(rawWriter(c), r.Body, s.cfg.MaxUploadBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		return badRequest("a training request with a model file must be multipart/form-data with the fields request and model: %v", err)
	}
	counted := &budgetReader{budget: s.budget}
	defer counted.release()
	haveModel := false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return uploadReadError(c, err, s.budget.limit)
		}
		switch part.FormName() {
		case "request":
			raw, err := io.ReadAll(io.LimitReader(part, s.cfg.MaxJSONBytes+1))
			if err != nil {
				return uploadReadError(c, err, s.budget.limit)
			}
			if int64(len(raw)) > s.cfg.MaxJSONBytes {
				return badRequest("field request is longer than %d bytes", s.cfg.MaxJSONBytes)
			}
			if err := json.Unmarshal(raw, req); err != nil {
				return badRequest("field request is not a training request: %s", strings.TrimPrefix(err.Error(), "json: "))
			}
		case "model":
			if haveModel {
				return badRequest("the form has more than one model file")
			}
			haveModel = true
			counted.r = part
			var data bytes.Buffer
			if _, err := data.ReadFrom(counted); err != nil {
				return uploadReadError(c, err, s.budget.limit)
			}
			req.InitModel, req.InitModelName = data.Bytes(), part.FileName()
		default:
			return badRequest("unknown form field %q (want request and model)", part.FormName())
		}
	}
	if !haveModel {
		return badRequest("the form has no field named model (the model file to start from)")
	}
	return nil
}

// getTrainingSettings sends the settings a run would use now, the presets, and the run's memory estimate
// against the training budget (with its model, so a form can check other values).
func (s *Server) getTrainingSettings(c echo.Context) error {
	pid, err := pathID(c, "pid")
	if err != nil {
		return err
	}
	settings, err := s.trainer.Settings(c.Request().Context(), pid)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, settings)
}

func (s *Server) listRuns(c echo.Context) error {
	pid, err := pathID(c, "pid")
	if err != nil {
		return err
	}
	runs, err := s.store.Runs(c.Request().Context(), pid)
	if err != nil {
		return err
	}
	if runs == nil {
		runs = []store.Run{}
	}
	return c.JSON(http.StatusOK, runs)
}

// getRun sends a run with its events; ?after=SEQ sends only the events after that one.
func (s *Server) getRun(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	after := 0
	if raw := c.QueryParam("after"); raw != "" {
		if after, err = strconv.Atoi(raw); err != nil || after < 0 {
			return badRequest("after %q is not a non-negative integer", raw)
		}
	}
	ctx := c.Request().Context()
	run, err := s.store.Run(ctx, id)
	if err != nil {
		return err
	}
	events, err := s.store.RunEvents(ctx, id, after)
	if err != nil {
		return err
	}
	if events == nil {
		events = []store.RunEvent{}
	}
	return c.JSON(http.StatusOK, runDetail{Run: run, Events: events})
}

// cancelRun stops a run after its current step and answers with the run once it is cancelled.
func (s *Server) cancelRun(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	run, err := s.trainer.Cancel(c.Request().Context(), id)
	if err != nil {
		return err
	}
	s.audit(c, "training.cancel", fmt.Sprintf("project %d", run.ProjectID), fmt.Sprintf("run %d", run.ID))
	return c.JSON(http.StatusOK, run)
}

func (s *Server) listModels(c echo.Context) error {
	pid, err := pathID(c, "pid")
	if err != nil {
		return err
	}
	models, err := s.store.Models(c.Request().Context(), pid)
	if err != nil {
		return err
	}
	out := make([]modelListing, len(models))
	progress, evaluating := s.trainer.Evaluating(pid)
	for i, m := range models {
		out[i].ModelVersion = m
		if evaluating && progress.ModelID == m.ID {
			out[i].Evaluating = &progress
		}
	}
	return c.JSON(http.StatusOK, out)
}

// modelListing is a model version with its cross-validation's progress while it runs.
type modelListing struct {
	store.ModelVersion
	Evaluating *job.EvaluationProgress `json:"evaluating,omitempty"`
}

// stopEvaluation stops a model's running cross-validation; the model stays as it is, without scores.
func (s *Server) stopEvaluation(c echo.Context) error {
	pid, mid, err := projectModelIDs(c)
	if err != nil {
		return err
	}
	if err := s.trainer.StopEvaluation(c.Request().Context(), pid, mid); err != nil {
		return err
	}
	s.audit(c, "model.evaluation.stop", fmt.Sprintf("project %d", pid), fmt.Sprintf("model %d", mid))
	return c.NoContent(http.StatusNoContent)
}

// projectModelIDs reads the path's project and model ids (…/projects/:pid/models/:mid/…).
func projectModelIDs(c echo.Context) (pid, mid int64, err error) {
	if pid, err = pathID(c, "pid"); err != nil {
		return 0, 0, err
	}
	mid, err = pathID(c, "mid")
	return pid, mid, err
}

type activeModelRequest struct {
	ModelID int64 `json:"modelId"`
}

// putActiveModel makes another model version the project's active one (e.g. a roll back); its predictions
// then drive the overlays, the review queue and exports.
func (s *Server) putActiveModel(c echo.Context) error {
	pid, err := pathID(c, "pid")
	if err != nil {
		return err
	}
	var req activeModelRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	if req.ModelID <= 0 {
		return badRequest("modelId must be a model id")
	}
	ctx := c.Request().Context()
	if err := s.store.SetActiveModel(ctx, pid, req.ModelID); err != nil {
		return err
	}
	m, err := s.store.Model(ctx, req.ModelID)
	if err != nil {
		return err
	}
	s.audit(c, "model.promote", fmt.Sprintf("project %d", pid), fmt.Sprintf("model %d", m.ID))
	s.hub.Publish(pid, event.ActiveModel{ModelID: m.ID})
	return c.JSON(http.StatusOK, m)
}

// promoteModel makes a candidate model (one that its run's comparison kept beside the active model) the
// project's active one by a reviewer's decision; its predictions then drive the overlays, the queue and exports.
func (s *Server) promoteModel(c echo.Context) error {
	pid, mid, err := projectModelIDs(c)
	if err != nil {
		return err
	}
	m, err := s.store.PromoteModel(c.Request().Context(), pid, mid)
	if err != nil {
		return err
	}
	s.audit(c, "model.promote", fmt.Sprintf("project %d", pid), fmt.Sprintf("model %d (candidate promoted by hand)", m.ID))
	s.hub.Publish(pid, event.ActiveModel{ModelID: m.ID})
	return c.JSON(http.StatusOK, m)
}

// downloadModel sends a model file, for `workbench segment --model FILE` on other machines.
func (s *Server) downloadModel(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	m, err := s.store.Model(ctx, id)
	if err != nil {
		return err
	}
	p, err := s.store.Project(ctx, m.ProjectID)
	if err != nil {
		return err
	}
	f, err := os.Open(s.store.ModelPath(m))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("model %d: its file is missing: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	attachment(c, fmt.Sprintf("%s_model_%d.wbmodel", p.Name, m.ID))
	return c.Stream(http.StatusOK, echo.MIMEOctetStream, f)
}

func (s *Server) getAreas(c echo.Context) error {
	pid, err := pathID(c, "pid")
	if err != nil {
		return err
	}
	a, err := export.ProjectAreas(c.Request().Context(), s.store, pid)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a)
}

func (s *Server) getAreasCSV(c echo.Context) error {
	pid, err := pathID(c, "pid")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p, err := s.store.Project(ctx, pid)
	if err != nil {
		return err
	}
	a, err := export.ProjectAreas(ctx, s.store, pid)
	if err != nil {
		return err
	}
	attachment(c, p.Name+"_areas.csv")
	c.Response().Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	c.Response().WriteHeader(http.StatusOK)
	return a.WriteCSV(c.Response())
}
