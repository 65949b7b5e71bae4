#!/bin/bash
# Queue a shard job as a SLURM job array of N parts, and the merge that runs once every part has succeeded.
#
#   CORPUS="/shared/corpus" VOCAB=/shared/vocab WORK=/shared/work bash examples/slurm/submit-shard.sh 16
#
# Each array task writes $WORK/parts/part-I-of-N (shard.sbatch); merge.sbatch then writes $WORK/shards, byte for
# byte what `electra-cli shard $CORPUS --vocab $VOCAB --out $WORK/shards` writes on one machine. A failed or
# requeued task is rerun alone, with the same environment (the command is printed below); finished parts are
# skipped.
set -euo pipefail
parts=${1:?usage: submit-shard.sh N   (the number of parts)}
here=$(cd "$(dirname "$0")" && pwd)
array=$(sbatch --parsable --array=1-"$parts" --export=ALL,PARTS="$parts",ARRAY_START=1 "$here/shard.sbatch")
array=${array%%;*}  # --parsable prints "jobid" or "jobid;cluster"
sbatch --parsable --dependency=afterok:"$array" --export=ALL,PARTS="$parts" "$here/merge.sbatch"
echo "rerun a failed part I: sbatch --array=I --export=ALL,PARTS=$parts $here/shard.sbatch" >&2
