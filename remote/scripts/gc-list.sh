set -u
echo "now $(date +%s)"
docker ps -a --filter label=io.cuttle.step --filter "label=io.cuttle.home=$HOME" --format 'container {{.ID}} {{.State}} {{.Label "io.cuttle.step"}} {{.Label "io.cuttle.started"}}' 2>/dev/null
for d in "$HOME"/.cuttle/work/*; do [ -e "$d" ] && echo "workdir ${d##*/} $(stat -c %Y "$d") $(stat -c %Y "$d/.cuttle-heartbeat" 2>/dev/null || echo 0) $(head -c 32 "$d/.cuttle-heartbeat" 2>/dev/null | tr -cd '0-9a-z.')"; done
for f in "$HOME"/.cuttle/runs/*.json; do [ -e "$f" ] && { r=${f##*/}; echo "record ${r%.json} $(stat -c %Y "$f")"; }; done
for d in "$HOME"/.cuttle/bundles/*; do [ -e "$d" ] && echo "bundle ${d##*/} $(stat -c %Y "$d")"; done
for d in "$HOME"/.cuttle/bundles/.tmp-* "$HOME"/.cuttle/bundles/.upload-* "$HOME"/.cuttle/bundles/..upload-*; do [ -e "$d" ] && echo "temp $d $(stat -c %Y "$d")"; done
docker image ls --filter 'reference=cuttle-build/*' --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | while read -r ref; do
  echo "build $ref $(date -d "$(docker image inspect --format '{{.Created}}' "$ref")" +%s 2>/dev/null || echo 0)"
done
