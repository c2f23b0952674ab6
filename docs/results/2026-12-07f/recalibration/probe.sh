#!/bin/bash
# Re-score each finished default run at other batch-norm re-estimation lengths: --resume of a
# finished run loads its last checkpoint (after the final epoch, before re-estimation), runs no
# epoch, then re-estimates with --recalibrate batches and scores.
cd /tmp/rc
for r in 0 30 100 300; do
  for e in tc:toy_cell mb:mobilenetv3; do
    d=${e%%:*}; b=${e##*:}
    ./$b --resume /tmp/rc/$d --recalibrate $r > $d-r$r.log 2>&1
    v=$(grep "validation accuracy" $d-r$r.log | awk '{print $6}'); t=$(grep "test accuracy with" $d-r$r.log | awk '{print $6}')
    echo "$d recalibrate $r valid $v test $t" >> probe.txt
  done
done
