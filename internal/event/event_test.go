package event

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mriworkbench/workbench/store"
)

// one of each event, with the JSON the web app receives.
var catalogue = []struct {
	event Event
	json  string
}{
	{Label{VolumeID: 3, Slice: 4, Version: 2, Author: "ana", Origin: "manual", Verified: true},
		`{"type":"label","volumeId":3,"slice":4,"version":2,"author":"ana","origin":"manual","verified":true,"deleted":false}`},
	{Volume{Volume: VolumeSummary{ID: 1, ProjectID: 2, Name: "t2", OriginalName: "t2.nii.gz", Shape: [3]int{4, 5, 6},
		Spacing: [3]float64{1, 1, 2}, Counts: store.SliceCounts{Unlabelled: 6}, CreatedAt: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}},
		`{"type":"volume","volume":{"id":1,"projectId":2,"name":"t2","originalName":"t2.nii.gz","shape":[4,5,6],"spacing":[1,1,2],"counts":` +
			mustJSON(store.SliceCounts{Unlabelled: 6}) + `,"createdAt":"2026-12-02T00:00:00Z"}}`},
	{VolumeDeleted{VolumeID: 7}, `{"type":"volumeDeleted","volumeId":7}`},
	{ProjectDeleted{ProjectID: 8}, `{"type":"projectDeleted","projectId":8}`},
	{Run{Run: store.Run{ID: 5}}, `{"type":"run","run":` + mustJSON(store.Run{ID: 5}) + `}`},
	{Iteration{Progress{RunID: 5, Iteration: 1, TrainLoss: 0.5, ETA: -1}},
		`{"type":"iteration","runId":5,"iteration":1,"epoch":0,"trainLoss":0.5,"learningRate":0,"secondsPerIteration":0,"eta":-1,"elapsed":0}`},
	{Epoch{Progress{RunID: 5, Iteration: 9, Epoch: 1, ValLoss: ptr(0.25), ValDice: []float64{0.8}, Best: true}},
		`{"type":"epoch","runId":5,"iteration":9,"epoch":1,"trainLoss":0,"valLoss":0.25,"valDice":[0.8],"best":true,"learningRate":0,"secondsPerIteration":0,"eta":0,"elapsed":0}`},
	{Predictions{ModelID: 2, Slices: 10}, `{"type":"predictions","modelId":2,"slices":10}`},
	{ActiveModel{ModelID: 2}, `{"type":"activeModel","modelId":2}`},
	{Evaluation{ModelID: 2, Status: EvaluationRunning, Method: "k-fold-slices", Folds: 3, Slices: 10, Fold: 2, ETA: 40},
		`{"type":"evaluation","modelId":2,"status":"running","method":"k-fold-slices","folds":3,"slices":10,"fold":2,"eta":40}`},
}

func ptr(v float64) *float64 { return &v }

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestEventsMarshalWithTheirType(t *testing.T) {
	var types []string
	for _, c := range catalogue {
		got, err := json.Marshal(c.event)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != c.json {
			t.Errorf("%T:\n got %s\nwant %s", c.event, got, c.json)
		}
		types = append(types, c.event.Type())
	}
	if !slices.Equal(types, Types) {
		t.Fatalf("catalogue types %v, Types %v", types, Types)
	}
}

// The web app's union (web/src/serverevents.ts) lists exactly the Go catalogue's types.
func TestWebAppMirrorsTheCatalogue(t *testing.T) {
	src, err := os.ReadFile("../../web/src/serverevents.ts")
	if err != nil {
		t.Fatal(err)
	}
	list := regexp.MustCompile(`serverEventTypes\s*=\s*\[([^\]]*)\]`).FindSubmatch(src)
	if list == nil {
		t.Fatal("web/src/serverevents.ts has no serverEventTypes = [...] list")
	}
	var web []string
	for _, m := range regexp.MustCompile(`"([^"]+)"`).FindAllSubmatch(list[1], -1) {
		web = append(web, string(m[1]))
	}
	if !slices.Equal(web, Types) {
		t.Fatalf("web/src/serverevents.ts lists %v; internal/event has %v", web, Types)
	}
	for _, typ := range Types {
		if !strings.Contains(string(src), `type: "`+typ+`"`) {
			t.Errorf("web/src/serverevents.ts has no union member with type: %q", typ)
		}
	}
}
