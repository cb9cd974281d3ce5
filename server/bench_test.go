package server

import (
	"fmt"
	"io"
	"net/http"
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
