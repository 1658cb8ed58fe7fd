# Device runs: the causal temporal encoder (model.temporal.causal=true) on the shipped recipe,
# three training seeds and its two single-modality baselines, five at once; noise limits off
# (measured afterwards on the CPU). Argument: seconds this command may take.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
nvidia-smi -L; nproc; python3 -c "import torch; print(torch.__version__)"
start=$(date +%s)
python3 docs/experiment/causal/device/prepare.py /tmp/cache || exit 1
echo "prep $(( $(date +%s) - start )) s"
RGB_ONLY="train.modality_dropout_depth_video=1 train.modality_dropout_rgb_video=0 train.modality_dropout_depth=0"
DEPTH_ONLY="train.modality_dropout_rgb_video=1 train.modality_dropout_depth_video=0 train.modality_dropout_depth=0 train.rgb_blur.probability=0"
run() { name=$1; seed=$2; shift 2; sets=()
  for s in "$@"; do sets+=(--set "$s"); done
  timeout $left python3 -m r3d_ros.train.cli --no-progress --config config/train/default.yaml \
    --set model.temporal.causal=true --set train.seed=$seed --set train.threads=2 --set data.workers=1 \
    --set data.cache_dir=/tmp/cache --set 'train.depth_limit.levels=[]' --set 'train.rgb_limit.levels=[]' \
    "${sets[@]}" --run-dir /tmp/runs/$name > /tmp/runs/$name.log 2>&1
  echo "$name rc=$? at $(( $(date +%s) - start )) s"; }
mkdir -p /tmp/runs
left=$(( $1 - ($(date +%s) - start) - 30 ))
run causal_s0 0 &
run causal_s1 1 &
run causal_s2 2 &
run causal_rgb_only_s0 0 $RGB_ONLY &
run causal_depth_only_s0 0 $DEPTH_ONLY &
wait
mkdir -p /tmp/pack
for d in /tmp/runs/*/; do n=$(basename $d); mkdir -p /tmp/pack/$n
  cp $d/model.safetensors $d/checkpoint.safetensors $d/metrics.jsonl $d/timing.json $d/pretrain.jsonl \
     $d/config.yaml /tmp/pack/$n/ 2>/dev/null
  cp /tmp/runs/$n.log /tmp/pack/$n/train.log; done
tar czf $OUT/causal.tgz -C /tmp/pack .
ls -la $OUT
