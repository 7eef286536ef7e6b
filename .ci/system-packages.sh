#!/bin/sh
# Debian packages the book uses offline: Fashion-MNIST (data), MathJax (formulas), Chromium (page tests).
# Installs them when run as root on Debian; otherwise prints what is missing and how to supply it.
need=""
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || [ -f data/fashion-mnist/train-images-idx3-ubyte.gz ] || [ -f data/fashion-mnist/train-images-idx3-ubyte ] || need="$need dataset-fashion-mnist"
[ -f /usr/share/javascript/mathjax/MathJax.js ] || need="$need libjs-mathjax"
command -v chromium >/dev/null 2>&1 || need="$need chromium"
[ -z "$need" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages:$need"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q $need >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $need >/dev/null; } \
    || echo "warning: apt-get install$need failed" >&2
else
  echo "note: missing Debian packages:$need" >&2
  echo "  as root: apt-get install$need" >&2
  echo "  or: put the Fashion-MNIST IDX files (train-images-idx3-ubyte.gz, ...) into data/fashion-mnist/;" >&2
  echo "  without libjs-mathjax formulas show as TeX; without chromium the browser test is skipped." >&2
fi
exit 0
