package agreement

import "testing"

// Each pixel of this 1-row grid is a voting situation; the reads list its votes read by read.
func TestMajorityVoteTies(t *testing.T) {
	cases := []struct {
		name  string
		votes []uint8
		want  uint8
	}{
		{"clear majority of a class", []uint8{1, 1, 2}, 1},
		{"clear majority of background", []uint8{0, 0, 2}, 0},
		{"three-way tie goes to background", []uint8{1, 2, 0}, 0},
		{"class over background by one", []uint8{2, 0, 2}, 2},
		{"background wins a tie with a class", []uint8{0, 1, 1, 0}, 0},
		{"lower class wins a tie between classes", []uint8{2, 1, 2, 1}, 1},
		{"tie between classes, background fewer", []uint8{2, 0, 1, 2, 1}, 1},
		{"unanimous", []uint8{2, 2, 2, 2}, 2},
	}
	for _, tc := range cases {
		reads := make([][]uint8, len(tc.votes))
		for j, v := range tc.votes {
			reads[j] = []uint8{v}
		}
		got, err := MajorityVote(Grid{W: 1, H: 1, DX: 1, DY: 1}, reads, 2)
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != tc.want {
			t.Errorf("%s: votes %v give %d, want %d", tc.name, tc.votes, got[0], tc.want)
		}
	}
}

func TestMajorityVoteSingleReadIsItself(t *testing.T) {
	read := []uint8{0, 1, 2, 3, 3, 0}
	got, err := MajorityVote(Grid{W: 3, H: 2, DX: 1, DY: 1}, [][]uint8{read}, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range read {
		if got[i] != read[i] {
			t.Fatalf("one read: consensus %v, want the read %v", got, read)
		}
	}
}
