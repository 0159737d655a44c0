# Shared set-up for scripts/run and scripts/test: installs what is missing,
# idempotently, and says what it is doing. Source it; do not run it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/crmsync/target}"
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Plain logs in CI (vitest and friends colour by default).
if [ -n "${CI:-}" ]; then export NO_COLOR=1 FORCE_COLOR=0; fi

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root (or sudo) to run: $*"; fi
}

# Debian/Ubuntu packages for building and running the desktop app.
APP_PACKAGES=(build-essential pkg-config file curl libwebkit2gtk-4.1-dev librsvg2-dev
  libayatana-appindicator3-dev)
# Extra packages for the end-to-end tests (virtual display, WebDriver, D-Bus, keyring).
# jq, openssl and curl drive the sandbox flow scripts (crates/sandbox/tests/*.sh).
# fonts-ipafont-gothic: a Japanese font, so screenshots of the Japanese UI are legible.
TEST_PACKAGES=(xvfb xauth webkit2gtk-driver dbus dbus-x11 at-spi2-core gnome-keyring jq openssl curl
  fonts-ipafont-gothic)

ensure_apt_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "missing system packages (${missing[*]}) and no apt-get: see README.md for your OS"
  say "installing system packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_toolchains() {
  command -v cargo >/dev/null 2>&1 || die "Rust is missing: install it from https://rustup.rs (stable, 1.89 or newer)"
  command -v node >/dev/null 2>&1 || die "Node.js is missing: install Node.js 20.19 or newer"
  local major minor
  IFS=. read -r major minor _ <<<"$(node --version | tr -d v)"
  if [ "$major" -lt 20 ] || { [ "$major" -eq 20 ] && [ "$minor" -lt 19 ]; }; then
    die "Node.js $(node --version) is too old: 20.19 or newer is needed"
  fi
}

# ensure_cargo_tool BINARY CRATE: cargo install --locked when BINARY is not on PATH.
ensure_cargo_tool() {
  command -v "$1" >/dev/null 2>&1 && return 0
  say "installing $2 (cargo install, once)"
  cargo install --locked --quiet "$2"
}

ensure_ui_deps() {
  if [ ! -f "$ROOT/ui/node_modules/.package-lock.json" ] ||
     [ "$ROOT/ui/package-lock.json" -nt "$ROOT/ui/node_modules/.package-lock.json" ]; then
    say "installing UI packages (npm ci)"
    (cd "$ROOT/ui" && npm ci --no-fund --no-audit --loglevel=error)
  fi
}

build_ui() {
  say "building the UI (TypeScript check + Vite)"
  (cd "$ROOT/ui" && npm run --silent build)
}

has_display() {
  case "$(uname -s)" in
    Linux) [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ] ;;
    *) true ;;
  esac
}
