package server

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/store"
)

// BenchmarkLabelSavesWhileTraining has 20 annotators save labels over loopback HTTP, each on its own slice of
// the gm-challenge volume (256x192x20) and each saving a stroke every saveEvery (a fast painter: people take
// a second or more per stroke), while a run trains in its worker process with the default settings
// (training=true), or with no run (training=false, the baseline); it reports the saves' p50 and p99 latency
// and the failed saves. The target: p99 under 50 ms, zero errors, while training. With auth=true each
// annotator is an account with its own session cookie (a lab server), the run started by a reviewer; "lost"
// counts saves acknowledged but not the slice's current version afterwards.
func BenchmarkLabelSavesWhileTraining(b *testing.B) {
	for _, auth := range []bool{false, true} {
		for _, training := range []bool{false, true} {
			name := fmt.Sprintf("training=%v", training)
			if auth {
				name += ",auth=true"
			}
			b.Run(name, func(b *testing.B) { benchmarkLabelSaves(b, training, auth) })
		}
	}
}

// saveEvery paces each benchmark annotator.
const saveEvery = 500 * time.Millisecond

func benchmarkLabelSaves(b *testing.B, training, auth bool) {
	e := newTestEnv(b)
	b.Cleanup(e.srv.Trainer().Close)
	p, v := gmcProject(b, e)
	const annotators = 20
	cookies := make([]string, annotators)
	var reviewer *browser
	var conn *websocket.Conn
	if training { // before the accounts: the test's own socket needs no session
		conn = e.mustDial(p.ID)
	}
	if auth {
		addUser(b, e.store, "rev", store.RoleReviewer, "reviewer password")
		for i := range annotators {
			name := fmt.Sprintf("ann%02d", i)
			addUser(b, e.store, name, store.RoleAnnotator, "annotator password")
			br := newBrowser(b, e.http.URL)
			r := br.login(name, "annotator password").expect(b, http.StatusOK)
			cookies[i] = r.Cookies()[0].Name + "=" + r.Cookies()[0].Value
		}
		reviewer = newBrowser(b, e.http.URL)
		reviewer.login("rev", "reviewer password").expect(b, http.StatusOK)
	}
	var run store.Run
	if training {
		body := map[string]any{"fromScratch": true, "settings": map[string]any{"epochs": 0, "budget_seconds": 600}}
		if auth {
			reviewer.json(http.MethodPost, fmt.Sprintf("/api/projects/%d/train", p.ID), body).expect(b, http.StatusAccepted).json(b, &run)
		} else {
			e.sendJSON(http.MethodPost, fmt.Sprintf("/api/projects/%d/train", p.ID), body).expect(b, http.StatusAccepted).json(b, &run)
		}
		waitEvents(b, conn, 60*time.Second, func(ev wsEvent) bool { return ev.Type == event.TypeIteration && ev.RunID == run.ID })
	}

	w, h := v.Shape[0], v.Shape[1]
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failed    atomic.Int64
	)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: annotators}}
	var remaining atomic.Int64 // saves left to make, b.N in all
	remaining.Store(int64(b.N))
	acknowledged := make([]int, annotators) // each annotator's slice version after its last acknowledged save
	var wg sync.WaitGroup
	b.ResetTimer()
	for slice := range annotators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			who := slice
			slice %= v.Shape[2]
			base := 0
			if states, err := e.store.SliceStates(b.Context(), v.ID); err == nil {
				base = states[slice].LabelVersion
			}
			// Annotators paint independently: their strokes are spread over the period, not all at one instant.
			time.Sleep(time.Duration(slice) * saveEvery / annotators)
			tick := time.NewTicker(saveEvery)
			defer tick.Stop()
			for i := 0; remaining.Add(-1) >= 0; i++ {
				<-tick.C
				mask := disk(w, h, w/2, h/2, 10+i%20, uint8(1+i%2))
				req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("%s/api/volumes/%d/slices/%d/label", e.http.URL, v.ID, slice), bytes.NewReader(mask))
				req.Header.Set("Content-Type", "application/octet-stream")
				req.Header.Set("X-Base-Version", fmt.Sprint(base))
				if auth {
					req.Header.Set("Cookie", cookies[who])
				}
				start := time.Now()
				resp, err := client.Do(req)
				took := time.Since(start)
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
					if resp != nil {
						resp.Body.Close()
					}
					continue
				}
				resp.Body.Close()
				base++
				acknowledged[who] = base
				mu.Lock()
				latencies = append(latencies, took)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if r, err := e.store.Run(b.Context(), run.ID); training && (err != nil || r.Status != store.RunRunning) {
		b.Fatalf("the run stopped during the saves: %+v, %v", r, err)
	}
	lost := 0
	if states, err := e.store.SliceStates(b.Context(), v.ID); err == nil {
		for who, version := range acknowledged {
			if version > 0 && states[who%v.Shape[2]].LabelVersion != version {
				lost++
			}
		}
	}
	slices.Sort(latencies)
	if len(latencies) > 0 {
		b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
	}
	b.ReportMetric(float64(failed.Load()), "errors")
	b.ReportMetric(float64(lost), "lost")
}
