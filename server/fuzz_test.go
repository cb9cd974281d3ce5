package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mriworkbench/workbench/internal/event"
	"github.com/mriworkbench/workbench/internal/testenv"
	"github.com/mriworkbench/workbench/nifti"
	"github.com/mriworkbench/workbench/store"
)

// Real MRI with an expert mask of two classes, small enough for thousands of saves a second.
const (
	fuzzImagePath = "msd-hippocampus/imagesTr/hippocampus_001.nii.gz"
	fuzzMaskPath  = "msd-hippocampus/labelsTr/hippocampus_001.nii.gz"
	fuzzClasses   = 2
)

// omitBaseVersion as the base delta sends no X-Base-Version header at all.
const omitBaseVersion = math.MinInt8

// FuzzPutLabel sends label saves with fuzzed mask bodies, X-Base-Version, X-Origin, Origin and X-Author
// headers to PUT /api/volumes/{vid}/slices/{z}/label of a real server on a real store. The server never
// answers 5xx nor drops the connection, every refusal is a one-line JSON reason, and a slice's current label
// is always its last acknowledged save: an acknowledged save is exactly what was sent (mask, next version,
// origin, author), a refused one changes nothing, and a valid save (right size and classes, current base,
// known label origin, same-site or no Origin, plain author) is acknowledged.
//
// fit reshapes the mask to the slice's size with values among the classes, so that mutations also reach
// saves that succeed; baseRaw, when not empty, is sent as X-Base-Version verbatim, else the slice's current
// version plus baseDelta (omitBaseVersion: no header).
func FuzzPutLabel(f *testing.F) {
	e := newTestEnv(f)
	p := e.createProject("fuzz", "anterior", "posterior")
	v, masks := fuzzVolume(f, e, p.ID)
	w, h := v.Shape[0], v.Shape[1]
	loopback := strings.Replace(e.http.URL, "127.0.0.1", "localhost", 1)
	for i, z := range []int{v.Shape[2] / 2, v.Shape[2] / 3, 0} {
		f.Add(masks[z], false, int16(z), "", int8(0), "", "", "ann")
		f.Add(masks[z], true, int16(z), "", int8(0), "prediction", e.http.URL, "ann%C3%A9e")
		f.Add(masks[z], false, int16(z), "", int8(i-1), "manual", loopback, "bob")
	}
	zero := make([]byte, w*h)
	f.Add(zero, false, int16(v.Shape[2]-1), "0", int8(0), "", "", "")
	f.Add(zero, false, int16(v.Shape[2]), "", int8(0), "", "", "past the last slice")
	f.Add(zero, false, int16(-1), "", int8(0), "", "", "negative slice")
	f.Add(zero, false, int16(1), "", int8(omitBaseVersion), "", "", "no base")
	f.Add(zero, false, int16(1), "-1", int8(0), "", "", "")
	f.Add(zero, false, int16(1), "+1", int8(0), " manual ", "", " padded ")
	f.Add(zero, false, int16(1), "", int8(0), "painted", "", "unknown origin")
	f.Add(zero, false, int16(1), "", int8(0), "", "https://evil.example", "cross-site")
	f.Add(zero, false, int16(1), "", int8(0), "", "null", "sandboxed frame")
	f.Add(zero, false, int16(1), "", int8(0), "", "", "%zz")
	f.Add(zero, false, int16(1), "", int8(0), "", "", "%0Anew line")
	f.Add(zero, false, int16(1), "", int8(0), "", "", strings.Repeat("a", 101))
	f.Add(append(zero, 0), false, int16(2), "", int8(0), "", "", "one byte long")
	f.Add(zero[1:], false, int16(2), "", int8(0), "", "", "one byte short")
	f.Add(bytes.Repeat([]byte{fuzzClasses + 1}, w*h), false, int16(2), "", int8(0), "", "", "class out of range")
	f.Add([]byte{}, true, int16(3), "", int8(0), "", "", "")

	// acknowledged holds the last acknowledged mask of each slice this worker process saved.
	acknowledged := map[int][]byte{}
	f.Fuzz(func(t *testing.T, body []byte, fit bool, slice int16, baseRaw string, baseDelta int8,
		labelOrigin, siteOrigin, author string) {
		for _, value := range []string{baseRaw, labelOrigin, siteOrigin, author} {
			if !sendableHeader(value) {
				t.Skip("Go's HTTP client refuses header values with control characters")
			}
		}
		z := int(slice)
		if fit {
			body = fitMask(body, w*h)
		}
		before := currentLabel(t, e, v.ID, z)
		if want, ok := acknowledged[z]; ok && !bytes.Equal(before.mask, want) {
			t.Fatalf("slice %d holds a label other than its last acknowledged save", z)
		}

		header := map[string]string{"Content-Type": "application/octet-stream"}
		base := baseRaw
		if base == "" && baseDelta != omitBaseVersion {
			base = strconv.Itoa(before.version + int(baseDelta))
		}
		if base != "" {
			header["X-Base-Version"] = base
		}
		for name, value := range map[string]string{"X-Origin": labelOrigin, "Origin": siteOrigin, "X-Author": author} {
			if value != "" {
				header[name] = value
			}
		}
		status, resp := fuzzRequest(t, e, http.MethodPut, labelURL(v.ID, z), body, header)
		if status >= 500 {
			t.Fatalf("PUT slice %d: %d %s", z, status, resp.body)
		}

		after := currentLabel(t, e, v.ID, z)
		if status != http.StatusOK {
			errorOf(t, resp)
			if after.version != before.version || !bytes.Equal(after.mask, before.mask) || after.author != before.author {
				t.Fatalf("refused save (%d) changed slice %d from version %d to %d", status, z, before.version, after.version)
			}
			if z >= 0 && z < v.Shape[2] && validSave(body, w*h, baseRaw, baseDelta, labelOrigin, siteOrigin, author) {
				t.Fatalf("valid save of slice %d (base %q, origin %q, Origin %q, author %q) refused: %d %s",
					z, base, labelOrigin, siteOrigin, author, status, resp.body)
			}
			return
		}

		// Acknowledged: the request was a valid save, and the slice now holds exactly it.
		acknowledged[z] = bytes.Clone(body)
		var l store.Label
		if err := json.Unmarshal(resp.body, &l); err != nil {
			t.Fatalf("acknowledged save answered %s: %v", resp.body, err)
		}
		wantOrigin := strings.Trim(labelOrigin, " \t")
		if wantOrigin == "" {
			wantOrigin = store.OriginManual
		}
		wantAuthor := expectedAuthor(author)
		switch {
		case len(body) != w*h || !allClasses(body):
			t.Fatalf("acknowledged a mask of %d bytes (slice needs %d) with values up to %d", len(body), w*h, maxOf(body))
		case !sameSite(siteOrigin):
			t.Fatalf("acknowledged a save with Origin %q", siteOrigin)
		case !isVersion(base, before.version):
			t.Fatalf("acknowledged a save on base %q while slice %d is at version %d", base, z, before.version)
		case wantOrigin != store.OriginManual && wantOrigin != store.OriginPrediction:
			t.Fatalf("acknowledged label origin %q", labelOrigin)
		case len(wantAuthor) > 100 || strings.ContainsFunc(wantAuthor, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			t.Fatalf("acknowledged author %q", wantAuthor)
		case l.Version != before.version+1 || after.version != l.Version || l.Slice != z || l.VolumeID != v.ID || l.Deleted:
			t.Fatalf("acknowledged %+v on version %d; the slice is now at version %d", l, before.version, after.version)
		case l.Origin != wantOrigin:
			t.Fatalf("acknowledged origin %q for X-Origin %q", l.Origin, labelOrigin)
		case utf8.ValidString(wantAuthor) && l.Author != wantAuthor:
			t.Fatalf("acknowledged author %q for X-Author %q", l.Author, author)
		case !bytes.Equal(after.mask, body):
			t.Fatalf("slice %d does not hold the acknowledged mask", z)
		case after.author != wantAuthor:
			t.Fatalf("slice %d holds author %q for X-Author %q", z, after.author, author)
		}
	})
}

// fuzzVolume uploads the real volume (or, without the shared data, a small synthetic one) and returns it with
// a mask per canonical axial slice: the expert's, else discs.
func fuzzVolume(f *testing.F, e *testEnv, projectID int64) (event.VolumeSummary, [][]byte) {
	root := filepath.Join(testenv.RepoRoot(f), "..", "shared", "data")
	image, imageErr := os.ReadFile(filepath.Join(root, filepath.FromSlash(fuzzImagePath)))
	labels, labelsErr := nifti.Read(filepath.Join(root, filepath.FromSlash(fuzzMaskPath)))
	var v event.VolumeSummary
	if imageErr != nil || labelsErr != nil {
		if testenv.DataRequired() {
			f.Fatalf("fuzz volume: %v, %v (%s=1: required)", imageErr, labelsErr, testenv.RequireDataEnv)
		}
		like := &nifti.Header{Dim: [8]int64{3, 24, 20, 6, 1, 1, 1, 1}, Pixdim: [8]float64{1, 1, 1, 2}}
		var synthetic bytes.Buffer
		if err := nifti.EncodeMask(&synthetic, like, make([]uint8, 24*20*6)); err != nil {
			f.Fatal(err)
		}
		e.upload(projectID, "synthetic.nii.gz", synthetic.Bytes()).expect(f, http.StatusCreated).json(f, &v)
		masks := make([][]byte, v.Shape[2])
		for z := range masks {
			masks[z] = disk(v.Shape[0], v.Shape[1], v.Shape[0]/2, v.Shape[1]/2, z+2, uint8(1+z%fuzzClasses))
		}
		return v, masks
	}
	e.upload(projectID, filepath.Base(fuzzImagePath), image).expect(f, http.StatusCreated).json(f, &v)
	vol, _ := labels.Canonical()
	if vol.Shape != v.Shape {
		f.Fatalf("expert mask on canonical grid %v, volume %v", vol.Shape, v.Shape)
	}
	masks := make([][]byte, v.Shape[2])
	for z := range masks {
		masks[z] = make([]byte, vol.SliceLen())
		for i, value := range vol.Slice(z) {
			masks[z][i] = uint8(value)
		}
	}
	return v, masks
}

func labelURL(volumeID int64, z int) string {
	return fmt.Sprintf("/api/volumes/%d/slices/%d/label", volumeID, z)
}

// fuzzResponse is an answer of the server to a fuzzed request.
type fuzzResponse struct {
	header http.Header
	body   []byte
}

// fuzzRequest sends a request through the test server's client, failing on a dropped connection: a refusal
// must be an answer.
func fuzzRequest(t *testing.T, e *testEnv, method, path string, body []byte, header map[string]string) (int, fuzzResponse) {
	t.Helper()
	req, err := http.NewRequest(method, e.http.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := e.http.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s with %d bytes and headers %q: %v", method, path, len(body), header, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return resp.StatusCode, fuzzResponse{header: resp.Header, body: data}
}

// sliceLabel is what GET .../label answers: the current mask, version and author (nil, 0 and "" when the
// slice has no label, or does not exist).
type sliceLabel struct {
	mask    []byte
	version int
	author  string
}

// currentLabel reads a slice's current label; it fails on anything but a label or a 404 (400 for a negative
// slice index).
func currentLabel(t *testing.T, e *testEnv, volumeID int64, z int) sliceLabel {
	t.Helper()
	status, resp := fuzzRequest(t, e, http.MethodGet, labelURL(volumeID, z), nil, nil)
	switch status {
	case http.StatusOK:
		version, err := strconv.Atoi(resp.header.Get("X-Label-Version"))
		if err != nil {
			t.Fatalf("label of slice %d with X-Label-Version %q", z, resp.header.Get("X-Label-Version"))
		}
		author, err := url.PathUnescape(resp.header.Get("X-Label-Author"))
		if err != nil {
			t.Fatalf("label of slice %d with X-Label-Author %q: %v", z, resp.header.Get("X-Label-Author"), err)
		}
		return sliceLabel{mask: resp.body, version: version, author: author}
	case http.StatusNotFound, http.StatusBadRequest:
		errorOf(t, resp)
		return sliceLabel{}
	}
	t.Fatalf("GET label of slice %d: %d %s", z, status, resp.body)
	return sliceLabel{}
}

// errorOf returns the reason of an error answer, failing unless it is {"error": "one line"}.
func errorOf(t *testing.T, r fuzzResponse) string {
	t.Helper()
	var body errorBody
	if err := json.Unmarshal(r.body, &body); err != nil || body.Error == "" || strings.Contains(body.Error, "\n") {
		t.Fatalf("error answer %q is not {\"error\": \"one line\"}: %v", r.body, err)
	}
	return body.Error
}

// sendableHeader reports whether Go's client sends the value (it refuses control characters but tab).
func sendableHeader(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// isVersion reports whether an X-Base-Version value, as the server receives it (trimmed), is the number n.
func isVersion(raw string, n int) bool {
	v, err := strconv.Atoi(strings.Trim(raw, " \t"))
	return err == nil && v == n
}

// fitMask repeats (or cuts) b to n bytes, each a class index of the fuzz project.
func fitMask(b []byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		if len(b) > 0 {
			out[i] = b[i%len(b)] % (fuzzClasses + 1)
		}
	}
	return out
}

func allClasses(mask []byte) bool { return maxOf(mask) <= fuzzClasses }

func maxOf(mask []byte) int {
	m := 0
	for _, v := range mask {
		m = max(m, int(v))
	}
	return m
}

// expectedAuthor is the author a save records for an X-Author value: trimmed as HTTP trims header values,
// then percent-decoded when it holds a '%'.
func expectedAuthor(raw string) string {
	a := strings.Trim(raw, " \t")
	if strings.Contains(a, "%") {
		if decoded, err := url.PathUnescape(a); err == nil {
			return decoded
		}
	}
	return a
}

// sameSite reports whether an Origin header may come with a change: none, or a loopback origin (the test
// server is on loopback).
func sameSite(origin string) bool {
	origin = strings.Trim(origin, " \t")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// plainSiteOrigin is an Origin the harness knows to be this server's kind of site: loopback over http.
var plainSiteOrigin = regexp.MustCompile(`^http://(127\.0\.0\.1|localhost)(:[0-9]+)?$`)

// validSave reports whether a save to an existing slice is one the server must acknowledge: a mask of the slice's size and
// classes on the current version (sent by the harness as a plain number), a known label origin, no Origin or
// a plain loopback one, and a printable ASCII author of at most 100 bytes without percent-encoding.
func validSave(body []byte, n int, baseRaw string, baseDelta int8, labelOrigin, siteOrigin, author string) bool {
	origin := strings.Trim(labelOrigin, " \t")
	site := strings.Trim(siteOrigin, " \t")
	plainAuthor := len(author) <= 100 && !strings.Contains(author, "%")
	for i := 0; i < len(author); i++ {
		plainAuthor = plainAuthor && author[i] >= 0x20 && author[i] < 0x7f
	}
	return len(body) == n && allClasses(body) && baseRaw == "" && baseDelta == 0 &&
		(origin == "" || origin == store.OriginManual || origin == store.OriginPrediction) &&
		(site == "" || plainSiteOrigin.MatchString(site)) && plainAuthor
}
