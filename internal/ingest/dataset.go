package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Dataset is a folder in the Medical Segmentation Decathlon or nnU-Net layout: dataset.json naming the
// labels, imagesTr/ with their label maps in labelsTr/, and imagesTs/ without labels.
type Dataset struct {
	Dir     string
	Classes []string // the names of label values 1..N; 0 is background
	Cases   []DatasetCase
}

// DatasetCase is one image of a dataset and its label map ("" for an imagesTs/ image).
type DatasetCase struct {
	Image  string // path of the image file
	Labels string // path of its label map, or ""
}

// Name is the volume name the case's image gets.
func (c DatasetCase) Name() string { return VolumeName(c.Image) }

// channelSuffix is nnU-Net's channel number in an image name: case_0000.nii.gz is channel 0 of case.
var channelSuffix = regexp.MustCompile(`^(.+)_(\d{4})$`)

// OpenDataset reads a dataset folder's dataset.json and pairs every imagesTr/ image with its label map: the
// same file name (MSD), or case.nii.gz for the image case_0000.nii.gz (nnU-Net). Nothing is decoded here; a
// folder that does not follow the layout is refused with one line naming what is wrong.
func OpenDataset(dir string) (*Dataset, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "dataset.json"))
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", dir, err)
	}
	var meta struct {
		Labels     map[string]json.RawMessage `json:"labels"`
		FileEnding string                     `json:"file_ending"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, fmt.Errorf("dataset %s: dataset.json: %v", dir, err)
	}
	classes, err := datasetClasses(meta.Labels)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: dataset.json: %v", dir, err)
	}
	if e := strings.ToLower(meta.FileEnding); e != "" && e != ".nii.gz" && e != ".nii" {
		return nil, fmt.Errorf("dataset %s: file_ending %q: only NIfTI (.nii.gz or .nii) datasets can be imported", dir, meta.FileEnding)
	}
	ds := &Dataset{Dir: dir, Classes: classes}
	train, err := niftiFiles(filepath.Join(dir, "imagesTr"), true)
	if err != nil {
		return nil, err
	}
	labelFiles, err := niftiFiles(filepath.Join(dir, "labelsTr"), len(train) > 0)
	if err != nil {
		return nil, err
	}
	test, err := niftiFiles(filepath.Join(dir, "imagesTs"), false)
	if err != nil {
		return nil, err
	}
	if len(train)+len(test) == 0 {
		return nil, fmt.Errorf("dataset %s: imagesTr/ and imagesTs/ hold no .nii or .nii.gz image", dir)
	}
	if err := oneChannel(dir, append(append([]string{}, train...), test...)); err != nil {
		return nil, err
	}
	paired := map[string]bool{}
	for _, img := range train {
		label, err := pairedLabel(dir, img, labelFiles)
		if err != nil {
			return nil, err
		}
		paired[label] = true
		ds.Cases = append(ds.Cases, DatasetCase{Image: filepath.Join(dir, "imagesTr", img), Labels: filepath.Join(dir, "labelsTr", label)})
	}
	for _, label := range labelFiles {
		if !paired[label] {
			return nil, fmt.Errorf("dataset %s: labelsTr/%s has no image in imagesTr/", dir, label)
		}
	}
	for _, img := range test {
		ds.Cases = append(ds.Cases, DatasetCase{Image: filepath.Join(dir, "imagesTs", img)})
	}
	seen := map[string]string{}
	for _, c := range ds.Cases {
		if err := CheckFileName(c.Image); err != nil {
			return nil, fmt.Errorf("dataset %s: %v", dir, err)
		}
		key := strings.ToLower(c.Name())
		if other, ok := seen[key]; ok {
			return nil, fmt.Errorf("dataset %s: %s and %s would both be volume %q", dir, rel(dir, other), rel(dir, c.Image), c.Name())
		}
		seen[key] = c.Image
	}
	return ds, nil
}

// datasetClasses reads dataset.json's labels in either form, MSD's {"0": "background", "1": "Anterior"} or
// nnU-Net v2's {"background": 0, "Anterior": 1}, as the names of values 1..N, which must all be present.
func datasetClasses(labels map[string]json.RawMessage) ([]string, error) {
	if len(labels) == 0 {
		return nil, errors.New(`no "labels" naming the label values`)
	}
	names := map[int]string{}
	forms := map[string]bool{}
	for key, rawValue := range labels {
		var name string
		var value int
		var text string
		var number float64
		switch {
		case json.Unmarshal(rawValue, &text) == nil: // MSD: "value": "name"
			n, err := strconv.Atoi(key)
			if err != nil {
				return nil, fmt.Errorf("labels: key %q is not a label value (MSD form: \"1\": \"name\")", key)
			}
			name, value = text, n
			forms["MSD"] = true
		case json.Unmarshal(rawValue, &number) == nil: // nnU-Net v2: "name": value
			if number != float64(int(number)) {
				return nil, fmt.Errorf("labels: %q has value %v, not an integer", key, number)
			}
			name, value = key, int(number)
			forms["nnU-Net"] = true
		default:
			return nil, fmt.Errorf("labels: %q is %s; only one integer value per label can be imported (not regions)", key, rawValue)
		}
		if value < 0 {
			return nil, fmt.Errorf("labels: %q has the negative value %d", name, value)
		}
		if other, ok := names[value]; ok {
			return nil, fmt.Errorf("labels: value %d names both %q and %q", value, other, name)
		}
		names[value] = name
	}
	if len(forms) > 1 {
		return nil, errors.New(`labels mix MSD's "1": "name" and nnU-Net's "name": 1`)
	}
	if _, ok := names[0]; !ok {
		return nil, errors.New("labels: no value 0 (background)")
	}
	classes := make([]string, len(names)-1)
	for v := 1; v < len(names); v++ {
		name, ok := names[v]
		if !ok {
			return nil, fmt.Errorf("labels: values run to %d but %d is missing; label values must be 0..N", maxKey(names), v)
		}
		if strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("labels: value %d has an empty name", v)
		}
		classes[v-1] = strings.TrimSpace(name)
	}
	return classes, nil
}

func maxKey(m map[int]string) int {
	k := 0
	for v := range m {
		k = max(k, v)
	}
	return k
}

// niftiFiles lists the .nii and .nii.gz files of dir by name, leaving out hidden files (the "._" resource forks
// macOS leaves in archives such as MSD's). A missing dir is refused when required, else empty.
func niftiFiles(dir string, required bool) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) && !required {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	var out []string
	for _, e := range entries {
		lower := strings.ToLower(e.Name())
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || !(strings.HasSuffix(lower, ".nii.gz") || strings.HasSuffix(lower, ".nii")) {
			continue
		}
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out, nil
}

// oneChannel refuses nnU-Net cases of several channels (case_0000, case_0001): a volume is one image.
func oneChannel(dir string, images []string) error {
	channels := map[string][]string{}
	for _, img := range images {
		if m := channelSuffix.FindStringSubmatch(VolumeName(img)); m != nil {
			channels[m[1]] = append(channels[m[1]], img)
		}
	}
	for stem, files := range channels {
		if len(files) > 1 {
			return fmt.Errorf("dataset %s: case %q has %d channels (%s); the workbench imports one image per volume",
				dir, stem, len(files), strings.Join(files, ", "))
		}
	}
	return nil
}

// pairedLabel finds the label map of imagesTr/img among labelsTr/'s files: the same name (MSD), else the
// name without nnU-Net's channel suffix.
func pairedLabel(dir, img string, labels []string) (string, error) {
	has := func(name string) bool {
		i := sort.SearchStrings(labels, name)
		return i < len(labels) && labels[i] == name
	}
	if has(img) {
		return img, nil
	}
	stem := VolumeName(img)
	ext := img[len(stem):]
	if m := channelSuffix.FindStringSubmatch(stem); m != nil && has(m[1]+ext) {
		return m[1] + ext, nil
	}
	looked := img
	if m := channelSuffix.FindStringSubmatch(stem); m != nil {
		looked += " or " + m[1] + ext
	}
	return "", fmt.Errorf("dataset %s: imagesTr/%s has no label map in labelsTr/ (looked for %s)", dir, img, looked)
}

func rel(dir, path string) string {
	if r, err := filepath.Rel(dir, path); err == nil {
		return r
	}
	return path
}
