#!/usr/bin/env bash
# Issue 5 end to end: export the SBI-only model, fit the fusion on DFDC validation (+ self-blends of its REAL
# crops), set its operating point on re-encoded held-apart real talking heads, then score every candidate on the
# DFDC test split and on UADFV videos (never used to fit or choose anything).
#   scripts/fusion_eval.sh UADFV_DIR REAL_CLIPS_DIR
set -euo pipefail
UADFV=${1:?UADFV folder with real/ and fake/}
REAL=${2:?folder of held-apart REAL videos (SadTalker / video-retalking examples, DATA.md section 3)}
deepfake-detect export runs/efficientnet_lite0_sbi_only --out runs/efficientnet_lite0_sbi_only/model.onnx \
  --name efficientnet_lite0_sbi
deepfake-detect fuse --models efficientnet_lite0 runs/efficientnet_lite0_sbi_only/model.onnx \
  runs/mesonet4/model.onnx --sbi 0.5 --data data/dfdc/manifest.csv --real-videos "$REAL" \
  --out runs/fusion/fusion.json --name fusion_lite0_sbi_meso --quiet
while read -r tag m; do
  deepfake-detect evaluate --model "$m" --data data/dfdc/manifest.csv --split test --out "reports/issue5/$tag/dfdc_test" --quiet
  deepfake-detect evaluate --model "$m" --data "$UADFV" --out "reports/issue5/$tag/uadfv_videos" --quiet
done <<'LIST'
efficientnet_lite0 efficientnet_lite0
efficientnet_lite0_sbi runs/efficientnet_lite0_sbi_only/model.onnx
mesonet4 runs/mesonet4/model.onnx
fusion runs/fusion/fusion.json
LIST
