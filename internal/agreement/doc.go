// Package agreement measures how far annotators agree on one axial slice and builds a consensus from their
// reads. A read is one annotator's class map of the slice: W*H bytes, x fastest (pixel (x, y) at x + y*W),
// 0 = background, 1..K = classes. Distances and areas are in millimetres from the caller's pixel spacing.
//
// Per class, between two reads A and B (Compare, Pairwise):
//   - Dice = 2|A∩B| / (|A| + |B|) over the pixels of that class; 1 when both reads lack the class.
//   - Hausdorff (mm) = max(max_a d(a, B), max_b d(b, A)), the symmetric Hausdorff distance between the two
//     foreground pixel sets, d being the Euclidean distance between pixel centres with spacing (DX, DY). It is 0
//     when both sets are empty and undefined (nil) when exactly one is.
//   - HD95 (mm) = the 95th percentile of the pooled directed distances: d(a, B) for every pixel a of A together
//     with d(b, A) for every pixel b of B, interpolated linearly between order statistics (numpy's default
//     percentile). Pixels the two reads share contribute 0, so HD95 is 0 once 95% of the pooled pixels are
//     shared; it ignores the few most distant pixels that make the Hausdorff distance jump. Same nil and 0
//     rules as Hausdorff.
//   - Areas: pixel count times DX*DY, and their difference A - B, in mm2.
//
// Distances come from an exact Euclidean distance transform (Felzenszwalb and Huttenlocher, "Distance
// Transforms of Sampled Functions", 2012): a scan along each column and a lower envelope of parabolas along
// each row, with the anisotropic spacing built in. The cost is linear in the pixels of the class's bounding box
// over the reads compared (the maps cover only that box, which loses nothing), so a whole 512x512 slice takes
// milliseconds.
//
// Consensus of several reads:
//   - MajorityVote gives each pixel the label most reads give it. A tie goes to the lowest label: background
//     wins a tie with any class, and between tied classes the lower index wins. So two reads that disagree on a
//     pixel leave it background, which keeps a consensus from growing beyond what a majority drew.
//   - Staple (two reads or more) is the multi-class STAPLE of Warfield, Zou and Wells (IEEE TMI 23(7), 2004),
//     by expectation maximisation: each read has a confusion matrix theta[j][s'][s] = P(read j says s' | true
//     label s); the true-label priors are global and fixed at the pooled label frequencies of all reads. The
//     E-step gives each pixel the posterior W(s) of its true label; the M-step re-estimates the confusion
//     matrices from W. The matrices start at 0.99 on the diagonal (the rest spread evenly) and EM stops when no
//     matrix entry moves by more than the tolerance, or at the iteration limit. The consensus is each pixel's
//     most probable label, ties to the lowest label as in MajorityVote. Sensitivity of read j for label c is
//     P(says c | true c) and specificity P(says not c | true not c), both weighted by the posteriors; a ratio
//     with nothing to count (0/0) is 1. Labels, here, run from 0 (background) to the class count.
//
// Bad input (a read of the wrong length, a label above the class count, a grid without a positive finite
// spacing) is reported as a one-line error and nothing is computed.
package agreement
