// Package server is the workbench's HTTP API and the host of the embedded web app.
//
// Handlers are grouped per resource (projects.go, volumes.go, labels.go, models.go, exports.go, events.go);
// each decodes, validates, calls the store or a domain package (internal/ingest, internal/job,
// internal/export) and responds. Errors travel back to one handler (errors.go) that maps them to statuses and
// `{"error": "..."}` bodies. The CLI calls the same domain packages; nothing here is for it.
package server

import (
	"compress/gzip"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/mriworkbench/workbench/internal/auth"
	"github.com/mriworkbench/workbench/internal/ingest"
	"github.com/mriworkbench/workbench/internal/job"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// Default limits, used where Config leaves them zero.
const (
	DefaultMaxJSONBytes   = 1 << 20   // project settings and small requests
	DefaultMaxUploadBytes = 2 << 30   // one NIfTI upload
	DefaultCacheBytes     = 512 << 20 // canonical volumes kept decoded in memory (four 320x320x300 volumes)
	// DefaultMaxVoxels bounds one uploaded volume: 256 Mi voxels (e.g. 1024x1024x256; a large MRI volume is
	// 512x512x300 = 75 Mi). Decoding holds it once as float32 (decoded straight onto the canonical grid, the
	// statistics take no copy), 1 GiB at the limit, plus the upload itself; with DefaultUploads decoding at
	// once and the upload budget (UploadBufferBytes) full, that is about 6 GiB, which a 24 GiB laptop
	// survives next to the browser and a training run.
	DefaultMaxVoxels = 256 << 20
	DefaultUploads   = 2 // uploads decoded at once (their bytes have arrived); more wait

	DefaultHeaderTimeout   = 10 * time.Second // to receive a request's headers
	DefaultBodyIdleTimeout = time.Minute      // a request body that delivers nothing for this long fails
	DefaultIdleTimeout     = 2 * time.Minute  // a keep-alive connection with no request for this long closes
)

// Config is what the server needs from its caller.
type Config struct {
	Addr   string       // listen address, e.g. 127.0.0.1:8080
	WebApp fs.FS        // built single-page app with index.html at its root
	Store  *store.Store // required for every /api route but /api/health
	Logger *slog.Logger // nil: slog.Default()

	MaxJSONBytes   int64 // JSON request bodies
	MaxUploadBytes int64 // NIfTI uploads
	CacheBytes     int64 // decoded canonical volumes held for slice requests
	MaxVoxels      int64 // voxels of one uploaded volume, refused (413) from its header before decoding
	Uploads        int   // uploads decoded concurrently, once received; receiving takes no slot
	// UploadBufferBytes bounds the upload bytes held in memory at once, across the uploads being received
	// and those waiting to decode; an upload that would exceed it is refused (429, retry). Default: twice
	// MaxUploadBytes.
	UploadBufferBytes int64

	HeaderTimeout   time.Duration // to receive a request's headers
	BodyIdleTimeout time.Duration // a request body that delivers no byte for this long fails (an upload: 408)
	IdleTimeout     time.Duration // a keep-alive connection with no request for this long is closed

	// Training sets up the training worker process: its command (the workbench binary's `worker`), the memory
	// budget runs must fit, and the worker's own memory limit (job.WorkerConfig; zero values: the defaults).
	Training job.WorkerConfig

	// AllowedHosts are the host names, besides loopback names and IP addresses, that requests may address
	// the server by (the Host header), e.g. "lab-server.local" for a deliberate LAN deployment. Other names
	// are refused: a page on a rebinding domain must not reach the API. The listen address's host is allowed.
	AllowedHosts []string

	// TLSCertFile and TLSKeyFile, both set, serve HTTPS (PEM files).
	TLSCertFile, TLSKeyFile string
	// PasswordParams are the login KDF's costs (zero: auth.DefaultParams); tests lower them.
	PasswordParams auth.Params
}

// Server wraps the echo instance with the workbench's routes.
type Server struct {
	cfg      Config
	echo     *echo.Echo
	log      *slog.Logger
	store    *store.Store
	hub      *Hub
	volumes  *volumeCache
	trainer  *job.Trainer
	uploads  chan struct{} // semaphore: one token per upload being decoded
	budget   *uploadBudget // upload bytes held in memory
	hosts    hostPolicy
	accounts *accounts
}

// New builds the router; it does not listen yet.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxJSONBytes <= 0 {
		cfg.MaxJSONBytes = DefaultMaxJSONBytes
	}
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = DefaultCacheBytes
	}
	if cfg.MaxVoxels <= 0 {
		cfg.MaxVoxels = DefaultMaxVoxels
	}
	if cfg.Uploads <= 0 {
		cfg.Uploads = DefaultUploads
	}
	if cfg.UploadBufferBytes <= 0 {
		cfg.UploadBufferBytes = 2 * cfg.MaxUploadBytes
	}
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = DefaultHeaderTimeout
	}
	if cfg.BodyIdleTimeout <= 0 {
		cfg.BodyIdleTimeout = DefaultBodyIdleTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.PasswordParams == (auth.Params{}) {
		cfg.PasswordParams = auth.DefaultParams
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	s := &Server{cfg: cfg, echo: e, log: cfg.Logger, store: cfg.Store, hub: NewHub(cfg.Logger),
		uploads: make(chan struct{}, cfg.Uploads), budget: &uploadBudget{limit: cfg.UploadBufferBytes},
		hosts: newHostPolicy(cfg.Addr, cfg.AllowedHosts), accounts: newAccounts(cfg.Addr, cfg.PasswordParams)}
	s.volumes = newVolumeCache(cfg.CacheBytes, func(ctx context.Context, id int64) (*nifti.Volume, error) {
		return ingest.LoadCanonical(ctx, s.store, id)
	})
	if s.store != nil {
		s.trainer = job.NewTrainer(job.Config{Store: s.store, Publish: s.hub.Publish, Volume: s.volumes.get, Logger: cfg.Logger,
			Worker: cfg.Training})
	}
	e.HTTPErrorHandler = s.handleError
	e.Pre(securityHeaders, bodyIdleDeadline(cfg.BodyIdleTimeout))
	e.Use(middleware.Recover())
	s.routes()
	return s
}

// Handler exposes the router, for tests with httptest.
func (s *Server) Handler() http.Handler { return s.echo }

// Hub is the server's event hub; background jobs publish their progress through it.
func (s *Server) Hub() *Hub { return s.hub }

// Trainer runs the server's training jobs (nil without a store). Run closes it on shutdown; tests that only
// use Handler close it themselves.
func (s *Server) Trainer() *job.Trainer { return s.trainer }

func (s *Server) routes() {
	api := s.echo.Group("/api", s.guard, s.authenticate, middleware.GzipWithConfig(middleware.GzipConfig{
		// Slices and masks are fetched while the user pages through a volume: favour speed over ratio.
		Level:     gzip.BestSpeed,
		MinLength: 1024,
		// Websockets are hijacked connections; exports are .nii.gz files and zips of them, compressed already.
		Skipper: func(c echo.Context) bool {
			p := c.Request().URL.Path
			return strings.EqualFold(c.Request().Header.Get("Upgrade"), "websocket") ||
				strings.HasSuffix(p, "/export") || strings.HasSuffix(p, "/export.zip")
		},
	}))
	api.GET("/health", s.health)

	if s.store != nil {
		// Reading needs a session where accounts are required (authenticate); changes name their role.
		annotator, reviewer, admin := s.require(store.RoleAnnotator), s.require(store.RoleReviewer), s.require(store.RoleAdmin)
		api.POST("/auth/login", s.login)
		api.POST("/auth/logout", s.logout)
		api.GET("/auth/me", s.me)
		api.GET("/audit", s.listAudit, admin)
		api.GET("/audit.csv", s.auditCSV, admin)
		api.GET("/users", s.listUsers, admin)

		api.GET("/projects", s.listProjects)
		api.POST("/projects", s.createProject, reviewer)
		api.GET("/projects/:pid", s.getProject)
		api.PATCH("/projects/:pid", s.updateProject, reviewer)
		api.DELETE("/projects/:pid", s.deleteProject, admin)
		api.GET("/projects/:pid/volumes", s.listVolumes)
		api.POST("/projects/:pid/volumes", s.uploadVolume, reviewer)
		api.GET("/projects/:pid/review-queue", s.reviewQueue)
		api.GET("/projects/:pid/export.zip", s.exportProjectZip)
		api.GET("/projects/:pid/events", s.events)

		api.GET("/volumes/:vid", s.getVolume)
		api.DELETE("/volumes/:vid", s.deleteVolume, admin)
		api.GET("/volumes/:vid/export", s.exportVolume)
		api.POST("/volumes/:vid/labelmap", s.uploadLabelMap, annotator)
		api.GET("/volumes/:vid/data", s.getVolumeData)
		api.GET("/volumes/:vid/masks", s.getVolumeMasks)
		api.GET("/volumes/:vid/slices/:z", s.getSlice)
		api.GET("/volumes/:vid/slices/:z/label", s.getLabel)
		api.PUT("/volumes/:vid/slices/:z/label", s.putLabel, annotator)
		api.DELETE("/volumes/:vid/slices/:z/label", s.deleteLabel, annotator)
		api.PUT("/volumes/:vid/slices/:z/verified", s.putVerified, reviewer)
		api.POST("/volumes/:vid/slices/:z/label/copy", s.copyLabel, annotator)
		api.GET("/volumes/:vid/slices/:z/label/history", s.labelHistory)
		api.GET("/volumes/:vid/slices/:z/label/versions/:n", s.labelVersion)
		api.GET("/volumes/:vid/slices/:z/prediction", s.getPrediction)
		api.GET("/volumes/:vid/slices/:z/thumbnail", s.getThumbnail)
		api.GET("/volumes/:vid/reads", s.listVolumeReads)
		api.GET("/volumes/:vid/slices/:z/reads", s.getSliceReads)
		api.POST("/volumes/:vid/slices/:z/reads/adjudicate", s.adjudicate, reviewer)
		api.GET("/projects/:pid/agreement", s.getAgreement, reviewer)
		api.GET("/projects/:pid/agreement.csv", s.getAgreementCSV, reviewer)
		api.POST("/volumes/:vid/interpolate", s.interpolate)

		api.POST("/projects/:pid/train", s.startTraining, reviewer)
		api.GET("/projects/:pid/training-settings", s.getTrainingSettings)
		api.GET("/projects/:pid/runs", s.listRuns)
		api.GET("/runs/:id", s.getRun)
		api.POST("/runs/:id/cancel", s.cancelRun, reviewer)
		api.GET("/projects/:pid/models", s.listModels)
		api.PUT("/projects/:pid/active-model", s.putActiveModel, reviewer)
		api.POST("/projects/:pid/models/:mid/promote", s.promoteModel, reviewer)
		api.POST("/projects/:pid/models/:mid/evaluation/stop", s.stopEvaluation, reviewer)
		api.GET("/models/:id/download", s.downloadModel)
		api.GET("/projects/:pid/areas", s.getAreas)
		api.GET("/projects/:pid/areas.csv", s.getAreasCSV)
	}

	api.Any("/*", func(c echo.Context) error {
		return echo.NewHTTPError(http.StatusNotFound, "no such API endpoint: "+c.Request().URL.Path)
	})
	// The SPA owns every other path: unknown paths fall back to index.html so deep links work.
	if s.cfg.WebApp != nil {
		s.echo.Use(middleware.StaticWithConfig(middleware.StaticConfig{
			// API 404s must stay JSON errors, not become the app's index page.
			Skipper: func(c echo.Context) bool {
				p := c.Request().URL.Path
				return p == "/api" || strings.HasPrefix(p, "/api/")
			},
			Filesystem: http.FS(s.cfg.WebApp),
			HTML5:      true,
		}))
	}
}

func (s *Server) health(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// Run serves until ctx is cancelled, then shuts down gracefully, letting requests in flight finish and
// closing websocket clients.
func (s *Server) Run(ctx context.Context, ready func(addr string)) error {
	if err := s.checkDeployment(ctx); err != nil {
		return err
	}
	srv := s.httpServer()
	srv.RegisterOnShutdown(s.hub.Close)
	ln, err := listen(s.cfg.Addr)
	if err != nil {
		return err
	}
	if s.cfg.TLSCertFile != "" {
		if ln, err = tlsListener(ln, s.cfg.TLSCertFile, s.cfg.TLSKeyFile); err != nil {
			return err
		}
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
	if s.trainer != nil {
		// Training stops first and marks its runs interrupted.
		s.trainer.Close()
	}
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
