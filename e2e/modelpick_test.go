package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mriworkbench/workbench/store"
)

// The viewer shows a candidate model's predictions beside the active model's: the picker appears once the
// project has a candidate, M flips to it on the same slice, Accept takes what is shown (the candidate's),
// and M flips back.
func TestViewerShowsACandidatesPredictions(t *testing.T) {
	f := newToolsFixture(t)
	ctx := context.Background()
	pid, err := strconv.ParseInt(f.pid, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	square := func(class byte, x0 int) []byte {
		m := make([]byte, f.w*f.h)
		for y := 150; y < 170; y++ {
			for x := x0; x < x0+20; x++ {
				m[y*f.w+x] = class
			}
		}
		return m
	}
	model := func(candidate bool, mask []byte) store.ModelVersion {
		m, err := f.st.CreateModel(ctx, store.NewModel{ProjectID: pid, Arch: "e2e", Activate: !candidate, Candidate: candidate,
			Write: func(w io.Writer) error { _, err := w.Write([]byte("weights")); return err }})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.st.SavePredictions(ctx, m.ID, []store.Prediction{{VolumeID: f.volumeID, Slice: 3, Mask: mask, Uncertainty: 0.5}}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	activePred, candidatePred := square(1, 150), square(2, 100)
	active := model(false, activePred)
	cand := model(true, candidatePred)

	f.open(3)
	f.b.waitJS(`!document.querySelector("#accept").disabled && !document.querySelector(".model-pick").hidden`, 10*time.Second)
	options := eval[string](f.b, `[...document.querySelectorAll("#prediction-model option")].map((o) => o.textContent).join("|")`)
	if want := fmt.Sprintf("active #%d|candidate #%d", active.ID, cand.ID); options != want {
		t.Fatalf("picker options %q, want %q", options, want)
	}
	f.b.do(chromedp.KeyEvent("m"))
	f.b.waitJS(fmt.Sprintf(`document.querySelector("#prediction-model").value === "%d" && !document.querySelector("#accept").disabled`, cand.ID), 10*time.Second)
	f.b.screenshot(filepath.Join("artifacts", "viewer-candidate.png"))
	f.b.do(chromedp.KeyEvent("a"))
	f.b.waitSaved()
	if _, got := f.api.get(fmt.Sprintf("/api/volumes/%s/slices/3/label", f.vid)); !bytes.Equal(got, candidatePred) {
		t.Fatal("Accept with the candidate shown did not take the candidate's prediction")
	}
	f.b.do(chromedp.KeyEvent("m"))
	f.b.waitJS(`document.querySelector("#prediction-model").value === ""`, 5*time.Second)
	if m, err := f.st.ActiveModel(ctx, pid); err != nil || m.ID != active.ID {
		t.Fatalf("viewing the candidate changed the active model: %+v (%v)", m, err)
	}
}
