#!/bin/sh
# Debian packages the book needs, checked before anything is installed into the venv.
#   required: Fashion-MNIST (data of the Etmann chapter) and, while .venv does not exist yet, a working
#             `python -m venv` (Debian ships ensurepip separately, in python3-venv / python3.X-venv);
#   optional: MathJax (formulas render offline; without it they show as TeX) and Chromium (the browser test of
#             the book; without it that test is skipped).
# As root on Debian the missing ones are installed with apt-get; otherwise a missing required one stops here
# (exit 1) with the command that fixes it, and a missing optional one is a warning.
# Environment: PYTHON (interpreter that will create the venv, default python3), VENV (default .venv),
# RILIB_DATA (data folder, default data/).
set -u
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
DATA=${RILIB_DATA:-data}
FMNIST_DEBIAN=/usr/share/datasets/fashion-mnist

# all four IDX files of Fashion-MNIST, plain or gzipped, in one folder
has_fmnist() {
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    [ -f "$1/$f" ] || [ -f "$1/$f.gz" ] || return 1
  done
}
fmnist_ok() { has_fmnist "$DATA/fashion-mnist" || has_fmnist "$FMNIST_DEBIAN"; }
# venv + ensurepip (only needed until the venv exists)
venv_ok() { [ -x "$VENV/bin/python" ] || "$PYTHON" -c "import venv, ensurepip" >/dev/null 2>&1; }
venv_pkg() { echo "python$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo 3)-venv"; }

need="" want=""
fmnist_ok || need="$need dataset-fashion-mnist"
venv_ok || need="$need $(venv_pkg)"
[ -f /usr/share/javascript/mathjax/MathJax.js ] || want="$want libjs-mathjax"
command -v chromium >/dev/null 2>&1 || want="$want chromium"
[ -z "$need$want" ] && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt_install() {  # update the package lists only when the first attempt fails (fresh images have none)
    apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
  }
  if [ -n "$need" ]; then
    echo "installing Debian packages:$need"
    apt_install $need || echo "warning: apt-get install$need failed" >&2
  fi
  if [ -n "$want" ]; then
    echo "installing Debian packages:$want"
    apt_install $want || echo "warning: apt-get install$want failed" >&2
  fi
  # re-check what was asked for
  need="" want=""
  fmnist_ok || need="$need dataset-fashion-mnist"
  venv_ok || need="$need $(venv_pkg)"
  [ -f /usr/share/javascript/mathjax/MathJax.js ] || want="$want libjs-mathjax"
  command -v chromium >/dev/null 2>&1 || want="$want chromium"
  sudo=""
else
  sudo="sudo "
fi

case "$want" in *libjs-mathjax*)
  echo "warning: libjs-mathjax is missing: the book's formulas will show as TeX source (fix: ${sudo}apt-get install libjs-mathjax)" >&2 ;;
esac
case "$want" in *chromium*)
  echo "warning: chromium is missing: the test that opens the book in a browser is skipped (fix: ${sudo}apt-get install chromium)" >&2 ;;
esac
[ -z "$need" ] && exit 0

echo "error: missing what the book needs:$need" >&2
case "$need" in *dataset-fashion-mnist*)
  echo "  Fashion-MNIST (the Etmann chapter's data) is not in $DATA/fashion-mnist/ nor in $FMNIST_DEBIAN/." >&2
  echo "  Fix: ${sudo}apt-get install dataset-fashion-mnist" >&2
  echo "   or: put its four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz," >&2
  echo "       t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz; plain or gzipped) into $DATA/fashion-mnist/" >&2 ;;
esac
case "$need" in *-venv*)
  echo "  '$PYTHON -m venv' cannot create $VENV (the venv module or ensurepip is missing)." >&2
  echo "  Fix: ${sudo}apt-get install $(venv_pkg)" >&2 ;;
esac
case "$need" in *" "*" "*) echo "  (all at once: ${sudo}apt-get install$need)" >&2 ;; esac
exit 1
