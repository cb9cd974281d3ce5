package main

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mriworkbench/workbench/store"
)

// stormSave is one label save a client of the storm sent: its slice, its mask and, once the server
// acknowledged it (200), the version the server gave it.
type stormSave struct {
	slice   int
	mask    []byte
	version int // 0: not acknowledged (the server was killed before it answered)
}

// stormClient saves random masks on its slice as fast as the server answers, each based on the version it
// last saw (a 409 from the other client of the slice tells it the current one), until a request fails at the
// transport: the server is gone. It returns every save it sent; only the last may be unacknowledged.
func stormClient(addr string, volumeID int64, slice, base, sliceLen int, seed uint64) ([]stormSave, error) {
	r := rand.New(rand.NewPCG(seed, uint64(slice)))
	client := &http.Client{Timeout: 10 * time.Second}
	url := fmt.Sprintf("http://%s/api/volumes/%d/slices/%d/label", addr, volumeID, slice)
	var saves []stormSave
	for {
		mask := make([]byte, sliceLen)
		for i := range mask {
			mask[i] = byte(r.IntN(3)) // background, wm, gm
		}
		req, _ := http.NewRequest(http.MethodPut, url, bytes.NewReader(mask))
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("X-Base-Version", strconv.Itoa(base))
		resp, err := client.Do(req)
		if err != nil {
			return append(saves, stormSave{slice: slice, mask: mask}), nil // killed in flight, or refused after
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return append(saves, stormSave{slice: slice, mask: mask}), nil // killed mid-answer: not acknowledged
		}
		var answer struct {
			Version        int  `json:"version"`
			CurrentVersion *int `json:"currentVersion"`
		}
		if err := json.Unmarshal(body, &answer); err != nil {
			return saves, fmt.Errorf("slice %d: status %d, body %q: %v", slice, resp.StatusCode, body, err)
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			saves = append(saves, stormSave{slice: slice, mask: mask, version: answer.Version})
			base = answer.Version
		case resp.StatusCode == http.StatusConflict && answer.CurrentVersion != nil:
			base = *answer.CurrentVersion // the other client of the slice saved first: rebase and go on
		default:
			return saves, fmt.Errorf("slice %d: status %d: %s", slice, resp.StatusCode, body)
		}
	}
}

// getBytes fetches path from the server, failing the test unless it answers 200.
func (s *serveProcess) getBytes(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := http.Get("http://" + s.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v: %s", path, resp.Status, err, body)
	}
	return body
}

// leftoverFiles lists the temporary or partial files under the data directory: writes a crash interrupted.
func leftoverFiles(t *testing.T, data string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if strings.HasPrefix(name, ".partial-") || strings.HasPrefix(name, ".pending-") ||
			strings.Contains(name, ".tmp-") || strings.HasSuffix(name, "-journal") {
			found = append(found, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// kill -9 during a save storm: eight clients, two per slice, save label versions over HTTP to a real
// `workbench serve` process until it is killed mid-storm. After a restart on the same data directory every
// acknowledged save is there with its exact mask, any other version is one a client had in flight at the
// kill, SQLite's integrity check passes and no partial file remains.
func TestServeKilledDuringSaveStorm(t *testing.T) {
	data := t.TempDir()
	importT2s(t, data)
	srv := startServe(t, data)
	var vol struct {
		store.VolumeMeta
		Slices []store.SliceState `json:"slices"`
	}
	srv.getJSON(t, "/api/volumes/1", &vol)
	sliceLen := vol.Shape[0] * vol.Shape[1]
	const slices, perSlice = 4, 2

	type outcome struct {
		saves []stormSave
		err   error
	}
	results := make(chan outcome, slices*perSlice)
	for z := range slices {
		for c := range perSlice {
			go func() {
				saves, err := stormClient(srv.addr, vol.ID, z, vol.Slices[z].LabelVersion, sliceLen, uint64(c+1))
				results <- outcome{saves, err}
			}()
		}
	}
	time.Sleep(1500 * time.Millisecond)
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	srv.cmd.Wait()

	acked := map[[2]int][]byte{}   // {slice, version} -> mask
	inFlight := map[int][][]byte{} // slice -> masks sent but not acknowledged
	for range slices * perSlice {
		o := <-results
		if o.err != nil {
			t.Fatalf("storm client: %v", o.err)
		}
		for _, s := range o.saves {
			if s.version > 0 {
				acked[[2]int{s.slice, s.version}] = s.mask
			} else {
				inFlight[s.slice] = append(inFlight[s.slice], s.mask)
			}
		}
	}
	if len(acked) < 20 {
		t.Fatalf("only %d saves were acknowledged before the kill: the storm did not get going", len(acked))
	}
	if left := leftoverFiles(t, data); len(left) > 0 {
		t.Errorf("after the kill: partial files %v", left)
	}

	srv = startServe(t, data)
	committedInFlight := 0
	for z := range slices {
		var history []store.Label
		srv.getJSON(t, fmt.Sprintf("/api/volumes/%d/slices/%d/label/history", vol.ID, z), &history)
		present := map[int]bool{}
		unacked := 0
		for _, l := range history {
			present[l.Version] = true
			if l.Version <= vol.Slices[z].LabelVersion {
				continue // from the import, before the storm
			}
			mask := srv.getBytes(t, fmt.Sprintf("/api/volumes/%d/slices/%d/label/versions/%d", vol.ID, z, l.Version))
			if want, ok := acked[[2]int{z, l.Version}]; ok {
				if !bytes.Equal(mask, want) {
					t.Errorf("slice %d version %d: the stored mask differs from the acknowledged one", z, l.Version)
				}
				continue
			}
			// Committed, but the answer did not reach its client: it must be a mask a client had in flight.
			unacked++
			if !containsMask(inFlight[z], mask) {
				t.Errorf("slice %d version %d was never sent by a client", z, l.Version)
			}
		}
		committedInFlight += unacked
		if unacked > perSlice {
			t.Errorf("slice %d: %d unacknowledged versions, but only %d clients could have one in flight", z, unacked, perSlice)
		}
		for key := range acked {
			if key[0] == z && !present[key[1]] {
				t.Errorf("slice %d: acknowledged version %d is lost", z, key[1])
			}
		}
	}
	t.Logf("%d acknowledged saves on %d slices survived kill -9; %d saves in flight at the kill were committed",
		len(acked), slices, committedInFlight)

	srv.cmd.Process.Signal(syscall.SIGTERM)
	if err := srv.cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v; stderr %s", err, srv.stderr)
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(data, "workbench.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q %v", check, err)
	}
	if left := leftoverFiles(t, data); len(left) > 0 {
		t.Errorf("after the restart: partial files %v", left)
	}
}

func containsMask(masks [][]byte, mask []byte) bool {
	for _, m := range masks {
		if bytes.Equal(m, mask) {
			return true
		}
	}
	return false
}
