# shellcheck disable=SC2154 # the end of install-bundle.sh and install-tar.sh, which set t, d and digest
i=0
until mv -T "$t" "$d/$digest" 2>/dev/null; do
  if [ -f "$d/$digest/.complete" ]; then rm -rf "$t"; exit 0; fi
  i=$((i+1))
  if [ $i -ge 3 ]; then
    rm -rf "$t"
    echo "an incomplete bundle directory is in the way: $d/$digest (not left by this cuttle); remove it (rm -rf $d/$digest) and run the step again" >&2
    exit 1
  fi
done
