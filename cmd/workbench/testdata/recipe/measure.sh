#!/usr/bin/env bash
# Measures a training recipe through the real CLI, scoring every exported segmentation with nibabel + numpy
# (hippo_dice.py here, ../dice.py), independent of the workbench's code. Issue 11's closing-note numbers:
#
#   measure.sh WB lovo [CASE...]   leave-one-volume-out over the shared hippocampus cases (default all 6): the
#                                  other five fully labelled (label maps), the held-out one imported unlabelled,
#                                  `train --time $TRAIN_TIME` (default 3m; TRAIN_EPOCHS=N: `--epochs N` instead,
#                                  a comparison that the machine's load does not skew), per-class Dice on the
#                                  held-out case
#   measure.sh WB gm4 [TIME]       gm-challenge with slices 0,6,12,18 labelled, TIME (default 60s), GM/WM Dice
#                                  on the 16 others
#   measure.sh WB within [TIME]    gm-challenge with the 10 even slices labelled, TIME (default 60s), Dice on the
#                                  10 odd ones (the trainer issue's within-volume case)
#                                  (gm4 and within take TRAIN_EPOCHS too)
#
# WB is a workbench binary (go build -o /tmp/wb ./cmd/workbench). DATA (default /work/shared/data) is the shared
# data; TRAIN_ARGS adds flags to every `train` (e.g. --preset paper). Every result line carries the load
# average at its end, since the budgets are wall-clock on a shared machine.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
wb=$1
part=$2
shift 2
data=${DATA:-/work/shared/data}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
py=/usr/bin/python3
load() { cut -d' ' -f1-3 /proc/loadavg; }

case $part in
lovo)
	hip=$data/msd-hippocampus
	[ -d "$hip/imagesTr" ] || { echo "no hippocampus data in $hip" >&2; exit 2; }
	all=(hippocampus_001 hippocampus_003 hippocampus_004 hippocampus_006 hippocampus_033 hippocampus_044)
	held=("$@")
	[ ${#held[@]} -gt 0 ] || held=("${all[@]}")
	sum=0
	for out in "${held[@]}"; do
		d=$work/$out
		mkdir -p "$d"
		for c in "${all[@]}"; do
			if [ "$c" = "$out" ]; then
				"$wb" import --data "$d/db" --project hip --classes anterior,posterior "$hip/imagesTr/$c.nii.gz" >/dev/null
			else
				"$wb" import --data "$d/db" --project hip --classes anterior,posterior "$hip/imagesTr/$c.nii.gz" \
					--labels "$hip/labelsTr/$c.nii.gz" >/dev/null
			fi
		done
		limit=(--time "${TRAIN_TIME:-3m}")
		[ -z "${TRAIN_EPOCHS:-}" ] || limit=(--epochs "$TRAIN_EPOCHS")
		"$wb" train --data "$d/db" --project hip "${limit[@]}" ${TRAIN_ARGS:-} >"$d/train.log"
		"$wb" export --data "$d/db" --project hip --out "$d/out" >/dev/null
		line=$("$py" "$here/hippo_dice.py" "$d/out/$out/${out}_seg.nii.gz" "$hip/labelsTr/$out.nii.gz")
		echo "lovo $out: $line (load $(load)); $(grep -m1 -i 'iterations' "$d/train.log" | tr -s ' ' | head -c 200)"
		sum=$("$py" -c "print($sum + ${line##* })")
	done
	echo "lovo mean over ${#held[@]} held-out cases: $("$py" -c "print(f'{$sum / ${#held[@]}:.4f}')")"
	;;
gm4 | within)
	gm=$data/gm-challenge-data
	image=$gm/sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw.nii.gz
	cord=$gm/derivatives/labels/sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw_seg-manual.nii.gz
	gmseg=$gm/derivatives/labels/sub-9709Ses1/anat/sub-9709Ses1_run-1_T2starw_gmseg-manual.nii.gz
	[ -f "$image" ] || { echo "no gm-challenge data in $gm" >&2; exit 2; }
	if [ "$part" = gm4 ]; then
		labelled=0,6,12,18
	else
		labelled=0,2,4,6,8,10,12,14,16,18
	fi
	scored=$("$py" -c "l={$labelled}; print(','.join(str(z) for z in range(20) if z not in l))")
	time=${1:-60s}
	"$wb" import --data "$work/db" --project gm --classes wm,gm "$image" --mask "wm=$cord" --mask "gm=$gmseg" \
		--slices "$labelled" >/dev/null
	limit=(--time "$time")
	[ -z "${TRAIN_EPOCHS:-}" ] || limit=(--epochs "$TRAIN_EPOCHS") time="${TRAIN_EPOCHS} epochs"
	"$wb" train --data "$work/db" --project gm "${limit[@]}" ${TRAIN_ARGS:-} >"$work/train.log"
	"$wb" export --data "$work/db" --project gm --out "$work/out" >/dev/null
	name=sub-9709Ses1_run-1_T2starw
	echo "$part $time, labelled $labelled (load $(load)); $(grep -m1 -i 'iterations' "$work/train.log" | tr -s ' ' | head -c 200)"
	grep -m1 '^evaluation\|^not evaluated' "$work/train.log" || true
	"$py" "$here/../dice.py" "$work/out/$name/${name}_seg.nii.gz" "$cord" "$gmseg" "$scored"
	;;
*)
	echo "usage: measure.sh WB lovo [CASE...] | gm4 [TIME] | within [TIME]" >&2
	exit 2
	;;
esac
