package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

const benchVolume = "gm-challenge-data/sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw.nii.gz"

// BenchmarkSliceGet measures a slice request of a cached volume over loopback HTTP, gzip included, as the
// viewer pages through slices.
func BenchmarkSliceGet(b *testing.B) {
	for _, gz := range []bool{true, false} {
		b.Run(fmt.Sprintf("gzip=%v", gz), func(b *testing.B) {
			e := newTestEnv(b)
			p := e.createProject("bench", "gm")
			v := e.uploadVolume(p.ID, benchVolume)
			client := &http.Client{Transport: &http.Transport{DisableCompression: !gz}}
			get := func(z int) {
				resp, err := client.Get(fmt.Sprintf("%s/api/volumes/%d/slices/%d", e.http.URL, v.ID, z))
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || n != int64(4*v.Shape[0]*v.Shape[1]) {
					b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
				}
			}
			get(0) // decode into the cache
			b.SetBytes(int64(4 * v.Shape[0] * v.Shape[1]))
			b.ResetTimer()
			for i := range b.N {
				get(i % v.Shape[2])
			}
		})
	}
}

// BenchmarkInterpolateGap10 is POST /interpolate over loopback HTTP, gzip included, for a gap of 10 slices
// (256x192, 2 classes): the 150 ms budget as the viewer sees it.
func BenchmarkInterpolateGap10(b *testing.B) {
	e := newTestEnv(b)
	p := e.createProject("bench", "wm", "gm")
	v := e.uploadVolume(p.ID, benchVolume)
	w, h := v.Shape[0], v.Shape[1]
	for z, r := range map[int]int{0: 9, 11: 12} {
		m := disk(w, h, w/2+z/2, h/2, r, 1)
		for i, c := range disk(w, h, w/2+z/2, h/2, r/2, 2) {
			if c != 0 {
				m[i] = c
			}
		}
		e.putMask(v.ID, z, 0, m, nil).expect(b, http.StatusOK)
	}
	client := &http.Client{}
	url := fmt.Sprintf("%s/api/volumes/%d/interpolate", e.http.URL, v.ID)
	for b.Loop() {
		resp, err := client.Post(url, "application/json", strings.NewReader(`{"slices":[0,11]}`))
		if err != nil {
			b.Fatal(err)
		}
		var got struct{ Drafts []struct{ Mask []byte } }
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || len(got.Drafts) != 10 || len(got.Drafts[0].Mask) != w*h {
			b.Fatalf("status %d, %d drafts, err %v", resp.StatusCode, len(got.Drafts), err)
		}
	}
}
