package agreement

// MajorityVote gives every pixel the label most reads give it; a tie goes to the lowest label, so background
// wins a tie with a class and the lower class wins a tie between classes.
func MajorityVote(g Grid, reads [][]uint8, classes int) ([]uint8, error) {
	if err := checkReads(g, reads, classes, 1); err != nil {
		return nil, err
	}
	out := make([]uint8, g.pixels())
	votes := make([]int, classes+1)
	for i := range out {
		first := reads[0][i]
		unanimous := true
		for _, r := range reads[1:] {
			unanimous = unanimous && r[i] == first
		}
		if unanimous { // most pixels of most slices
			out[i] = first
			continue
		}
		clear(votes)
		for _, r := range reads {
			votes[r[i]]++
		}
		best := 0
		for c := 1; c <= classes; c++ {
			if votes[c] > votes[best] { // strictly more: ties keep the lower label
				best = c
			}
		}
		out[i] = uint8(best)
	}
	return out, nil
}
