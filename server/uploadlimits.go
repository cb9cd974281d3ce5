package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
)

// httpServer is the HTTP server Run serves with. Headers, idle keep-alive connections and (through
// bodyIdleDeadline) request bodies all have deadlines, so a client that stalls releases what it holds. There
// is no whole-request or write timeout: an upload of gigabytes, an export or a websocket may rightly take long.
func (s *Server) httpServer() *http.Server {
	return &http.Server{Addr: s.cfg.Addr, Handler: s.echo, ReadHeaderTimeout: s.cfg.HeaderTimeout, IdleTimeout: s.cfg.IdleTimeout}
}

// rawWriterKey is where bodyIdleDeadline keeps net/http's own ResponseWriter: middleware such as gzip wrap
// the echo response's writer, and only the original controls the connection (read deadlines, and the
// connection handling of a body over its limit).
const rawWriterKey = "workbench.rawWriter"

// rawWriter is the request's original http.ResponseWriter.
func rawWriter(c echo.Context) http.ResponseWriter {
	if w, ok := c.Get(rawWriterKey).(http.ResponseWriter); ok {
		return w
	}
	return c.Response()
}

// bodyIdleDeadline gives every request body a read deadline that moves forward while bytes arrive: a client
// that stops sending for idle fails its request instead of holding the handler, and what it holds, forever.
// Requests without a body are left alone: a websocket's connection must not inherit a deadline.
func bodyIdleDeadline(idle time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			w := c.Response().Writer
			c.Set(rawWriterKey, w)
			if req.ContentLength != 0 && req.Body != nil && req.Body != http.NoBody {
				rc := http.NewResponseController(w)
				// Armed now, not at the first read: a handler that answers without reading makes net/http
				// discard the body, which must not wait forever either.
				if err := rc.SetReadDeadline(time.Now().Add(idle)); err == nil {
					// Handlers read the body through a copy of the request: net/http decides how to finish
					// the connection (discard the rest, or close it gracefully after an early answer) from
					// its own request's body type, which must stay its own.
					body := &idleBody{ReadCloser: req.Body, rc: rc, idle: idle}
					wrapped := req.WithContext(req.Context())
					wrapped.Body = body
					c.SetRequest(wrapped)
					// A handler may answer long after its last read (an upload's decode): the rest of an
					// unfinished body is then discarded under a fresh deadline, and the connection kept.
					c.Response().Before(body.rearm)
				}
			}
			return next(c)
		}
	}
}

// idleBody extends the connection's read deadline before each read of the body, and clears it at the body's
// end so that the connection's own timeouts govern what follows (keep-alive, the next request).
type idleBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	done bool
}

func (b *idleBody) Read(p []byte) (int, error) {
	if b.done {
		return b.ReadCloser.Read(p)
	}
	_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	n, err := b.ReadCloser.Read(p)
	switch {
	case errors.Is(err, io.EOF):
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	case errors.Is(err, os.ErrDeadlineExceeded):
		return n, &bodyStalledError{idle: b.idle}
	}
	return n, err
}

// rearm restarts the idle deadline of a body not read to its end.
func (b *idleBody) rearm() {
	if !b.done {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	}
}

// bodyStalledError is a request body that delivered nothing for the idle timeout.
type bodyStalledError struct{ idle time.Duration }

func (e *bodyStalledError) Error() string {
	return fmt.Sprintf("the request body stalled: nothing arrived for %v", e.idle)
}

// uploadBudget bounds the upload bytes held in memory across all uploads, those still arriving and those
// waiting for a decode slot: receiving takes no slot (a stalled client holds only what it sent), so this is
// what keeps many large uploads at once from exhausting memory.
type uploadBudget struct {
	limit int64
	held  atomic.Int64
}

// budgetReader counts the bytes read through it against the budget, until release.
type budgetReader struct {
	r      io.Reader
	budget *uploadBudget
	n      int64
}

// errUploadBudget is an upload refused because other uploads hold the budget.
var errUploadBudget = errors.New("upload budget exhausted")

func (r *budgetReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.n += int64(n)
		if r.budget.held.Add(int64(n)) > r.budget.limit {
			return n, errUploadBudget
		}
	}
	return n, err
}

// release gives the bytes back, once the upload's buffer is no longer needed.
func (r *budgetReader) release() {
	r.budget.held.Add(-r.n)
	r.n = 0
}

// uploadTooLarge is the 413 of a body whose declared length is over the limit, answered from the headers.
func uploadTooLarge(declared, limit int64) error {
	return echo.NewHTTPError(http.StatusRequestEntityTooLarge,
		fmt.Sprintf("request body of %d bytes is larger than the upload limit of %d bytes", declared, limit))
}

// uploadReadError words a failure to receive an upload: the size limit keeps its 413, a stalled body is a
// 408, a full budget a 429 to retry, the rest a bad upload.
func uploadReadError(c echo.Context, err error, budget int64) error {
	var (
		tooLarge *http.MaxBytesError
		stalled  *bodyStalledError
	)
	switch {
	case errors.As(err, &tooLarge):
		return err
	case errors.As(err, &stalled):
		return echo.NewHTTPError(http.StatusRequestTimeout, "upload stopped: "+stalled.Error())
	case errors.Is(err, errUploadBudget):
		c.Response().Header().Set("Retry-After", "30")
		return echo.NewHTTPError(http.StatusTooManyRequests, fmt.Sprintf(
			"the server is receiving other uploads (%d MiB at most at once); retry when they have finished", budget>>20))
	}
	return badRequest("cannot read the upload: %v", err)
}
