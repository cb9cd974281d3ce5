package store

import (
	"os"
	"strings"
	"testing"
)

// benchVolume imports a 320x320x20 volume, the size the web app's performance targets name.
func benchVolume(b *testing.B) (*Store, VolumeMeta, []uint8) {
	s, err := Open(b.TempDir(), os.DirFS(testMigrations))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	p, err := s.CreateProject(ctx, "bench", wmgm, nil)
	if err != nil {
		b.Fatal(err)
	}
	g := testGeometry
	g.Shape = [3]int{320, 320, 20}
	v, err := s.ImportVolume(ctx, ImportRequest{ProjectID: p.ID, Name: "v", OriginalName: "v.nii",
		Original: strings.NewReader("x"), Geometry: g})
	if err != nil {
		b.Fatal(err)
	}
	// A disc of class 1 around a smaller disc of class 2, like a cord with grey matter.
	mask := make([]uint8, 320*320)
	for y := range 320 {
		for x := range 320 {
			d := (x-160)*(x-160) + (y-160)*(y-160)
			switch {
			case d < 20*20:
				mask[y*320+x] = 2
			case d < 45*45:
				mask[y*320+x] = 1
			}
		}
	}
	return s, v, mask
}

func BenchmarkSaveLabel320(b *testing.B) {
	s, v, mask := benchVolume(b)
	version := 0
	for b.Loop() {
		l, err := s.SaveLabel(ctx, LabelWrite{VolumeID: v.ID, Slice: 7, BaseVersion: version, Mask: mask})
		if err != nil {
			b.Fatal(err)
		}
		version = l.Version
	}
}

func BenchmarkLabel320(b *testing.B) {
	s, v, mask := benchVolume(b)
	if _, err := s.SaveLabel(ctx, LabelWrite{VolumeID: v.ID, Slice: 7, Mask: mask}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Label(ctx, v.ID, 7); err != nil {
			b.Fatal(err)
		}
	}
}
