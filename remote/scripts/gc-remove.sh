set -u
home=$1; shift
mode=
for a in "$@"; do
  case "$a" in --containers|--workdirs|--bundles|--temps|--builds|--records) mode=$a; continue ;; esac
  case "$mode" in
    --containers) docker rm -f "$a" >/dev/null 2>&1 && echo "removed container $a" || echo "failed container $a" ;;
    --workdirs) rm -rf "$home/.cuttle/work/$a" 2>/dev/null; [ -e "$home/.cuttle/work/$a" ] && echo "failed workdir $a" || echo "removed workdir $a" ;;
    # a bundle leaves by one rename, so no step sees half of one
    --bundles) t="$home/.cuttle/bundles/.tmp-gc-$a"; mv -T "$home/.cuttle/bundles/$a" "$t" && rm -rf "$t" && echo "removed bundle $a" || echo "failed bundle $a" ;;
    --temps) rm -rf "$a" && echo "removed temp $a" || echo "failed temp $a" ;;
    --builds) docker rmi "$a" >/dev/null 2>&1 && echo "removed image $a" || echo "failed image $a (in use?)" ;;
    --records)
      # A record goes only when what it lists is gone.
      if [ -e "$home/.cuttle/work/$a" ] || docker inspect "cuttle-$a" >/dev/null 2>&1; then echo "failed record $a (its work directory or container remains)"
      else rm -f "$home/.cuttle/runs/$a.json" && echo "removed record $a"; fi ;;
  esac
done
