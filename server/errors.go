package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/mriworkbench/workbench/internal/ingest"
	"github.com/mriworkbench/workbench/store"
)

// errorBody is every error response: one line for the user, plus the current version on a stale label write
// so the app can show the conflict and offer to rebase.
type errorBody struct {
	Error          string `json:"error"`
	CurrentVersion *int   `json:"currentVersion,omitempty"`
}

// handleError is echo's central error handler: it maps the store's and the request's errors to statuses, and
// logs the detail of unexpected failures while answering with a generic message. Messages never name the
// data directory's absolute path.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, body := s.classify(err, c)
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, body)
}

func (s *Server) classify(err error, c echo.Context) (int, errorBody) {
	if s.store != nil {
		err = s.store.Fault(err) // a full disk, a read-only directory, a missing file
	}
	var (
		fault    *store.FaultError
		stale    *store.StaleVersionError
		invalid  *store.ValidationError
		tooLarge *http.MaxBytesError
		tooBig   *ingest.TooLargeError
		httpErr  *echo.HTTPError
	)
	switch {
	case errors.As(err, &fault):
		req := c.Request()
		s.log.Error("request failed: data directory fault", "method", req.Method, "path", req.URL.Path,
			"fault", fault.Msg, "err", fault.Err)
		return faultStatus(fault), errorBody{Error: s.userMessage(fault.Error())}
	case errors.As(err, &stale):
		current := stale.Current
		return http.StatusConflict, errorBody{Error: s.userMessage(err.Error()), CurrentVersion: &current}
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge,
			errorBody{Error: fmt.Sprintf("request body is larger than the limit of %d bytes", tooLarge.Limit)}
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, errorBody{Error: s.userMessage(tooBig.Msg)}
	case errors.As(err, &invalid):
		return http.StatusBadRequest, errorBody{Error: s.userMessage(invalid.Msg)}
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, errorBody{Error: s.userMessage(err.Error())}
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, errorBody{Error: s.userMessage(err.Error())}
	case errors.As(err, &httpErr):
		if httpErr.Code >= 500 {
			s.logInternal(c, err)
			return httpErr.Code, errorBody{Error: http.StatusText(httpErr.Code)}
		}
		msg := fmt.Sprint(httpErr.Message)
		if m, ok := httpErr.Message.(string); ok {
			msg = m
		}
		return httpErr.Code, errorBody{Error: s.userMessage(msg)}
	}
	s.logInternal(c, err)
	return http.StatusInternalServerError, errorBody{Error: "internal server error (details in the server log)"}
}

// faultStatus is the status of a data directory fault: 507 for a full disk (the server cannot store what was
// sent), 503 for a read-only directory (nothing can be saved until an administrator fixes it; reads still
// work), 500 for a file missing from the directory (the server's data is damaged, the request was fine).
func faultStatus(f *store.FaultError) int {
	switch {
	case errors.Is(f.Kind, store.ErrDiskFull):
		return http.StatusInsufficientStorage
	case errors.Is(f.Kind, store.ErrReadOnly):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (s *Server) logInternal(c echo.Context, err error) {
	req := c.Request()
	s.log.Error("request failed", "method", req.Method, "path", req.URL.Path, "err", err)
}

// userMessage is msg as users may see it: one line, without the data directory's absolute path.
func (s *Server) userMessage(msg string) string {
	if s.store != nil {
		msg = s.store.Redact(msg)
	}
	return store.OneLine(msg)
}

// badRequest is a 400 with a reason for the user.
func badRequest(format string, args ...any) error {
	return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf(format, args...))
}

// jsonKind names a Go kind the way a JSON author thinks of it.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	}
	return "another type"
}

// decodeJSON reads a small JSON body into dst, refusing bodies that are not declared as JSON, bodies over
// the JSON limit and trailing garbage. Requiring the JSON content type also keeps other sites out: a page
// cannot send it cross-origin without a CORS preflight, which this server never grants.
func (s *Server) decodeJSON(c echo.Context, dst any) error {
	req := c.Request()
	if err := requireJSON(req); err != nil {
		return err
	}
	body := http.MaxBytesReader(c.Response(), req.Body, s.cfg.MaxJSONBytes)
	dec := json.NewDecoder(body)
	if err := dec.Decode(dst); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			return badRequest("request body is empty; expected a JSON object")
		case errors.As(err, &typeErr) && typeErr.Field != "":
			// Name the JSON field, not the Go type behind it.
			return badRequest("invalid JSON body: field %s must be %s, not %s", typeErr.Field, jsonKind(typeErr.Type.Kind()), typeErr.Value)
		}
		return badRequest("invalid JSON body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return badRequest("invalid JSON body: more than one JSON value")
	}
	return nil
}

// requireJSON refuses a request body not declared as application/json (415).
func requireJSON(req *http.Request) error {
	ct := req.Header.Get(echo.HeaderContentType)
	mediaType, _, err := mime.ParseMediaType(ct)
	if err != nil || mediaType != echo.MIMEApplicationJSON {
		if ct == "" {
			ct = "none"
		}
		return echo.NewHTTPError(http.StatusUnsupportedMediaType,
			fmt.Sprintf("request body must be JSON with Content-Type: application/json (got %s)", ct))
	}
	return nil
}
