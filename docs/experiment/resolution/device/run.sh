# Device sweep: input resolution, two training seeds each; noise limits off.
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
nvidia-smi -L; nproc; free -g | head -2; python3 -c "import torch; print(torch.__version__)"
start=$(date +%s)
python3 docs/experiment/resolution/device/prepare_sizes.py 48x64 72x96 96x128 || exit 1
echo "prep $(( $(date +%s) - start )) s"
run() { name=$1; h=$2; w=$3; seed=$4
  timeout $5 python3 -m r3d_ros.train.cli --no-progress --config config/train/default.yaml \
    --set train.threads=2 --set data.workers=1 --set data.cache_dir=/tmp/cache$h \
    --set model.input.height=$h --set model.input.width=$w --set train.seed=$seed \
    --set 'train.depth_limit.levels=[]' --set 'train.rgb_limit.levels=[]' --run-dir /tmp/sw/$name > /tmp/sw_$name.log 2>&1
  echo "$name rc=$? at $(( $(date +%s) - start )) s"; }
mkdir -p /tmp/sw
left=$(( $1 - ($(date +%s) - start) - 25 ))
for spec in "r48_s1 48 64 1" "r48_s2 48 64 2" "r72_s0 72 96 0" "r72_s1 72 96 1" "r96_s0 96 128 0" "r96_s1 96 128 1"; do
  run $spec $left &
done
wait
free -g | head -2
mkdir -p /tmp/pack
for d in /tmp/sw/*; do n=$(basename $d); mkdir -p /tmp/pack/$n
  cp $d/model.safetensors $d/metrics.jsonl $d/timing.json $d/pretrain.jsonl $d/config.yaml /tmp/pack/$n/ 2>/dev/null
  cp /tmp/sw_$n.log /tmp/pack/$n/train.log; done
tar czf $OUT/sweep.tgz -C /tmp/pack .
ls -la $OUT
