# Sourced by bin/tidemark and bin/test: puts Node.js 24 on PATH (installing it from the npm registry into
# ~/.node24 when the machine's node is older) and installs the locked dependencies when they are missing or stale.
tidemark_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tidemark_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(tidemark_node_major)" -lt 24 ]; then
  export PATH="$HOME/.node24/node_modules/.bin:$PATH"
  if [ "$(tidemark_node_major)" -lt 24 ]; then
    echo "tidemark: installing Node.js 24 into ~/.node24 (once)" >&2
    npm install --prefix "$HOME/.node24" --no-save --no-audit --no-fund node@24 >&2 ||
      { echo "tidemark: could not install Node.js 24 from the npm registry" >&2; exit 1; }
  fi
fi
# A linked node_modules (a git worktree sharing another checkout's) is that checkout's to install: `npm ci`
# here would empty it through the link.
if [ ! -L "$tidemark_root/node_modules" ] && { [ ! -f "$tidemark_root/node_modules/.package-lock.json" ] ||
   [ "$tidemark_root/package-lock.json" -nt "$tidemark_root/node_modules/.package-lock.json" ]; }; then
  echo "tidemark: installing dependencies from package-lock.json" >&2
  # npm 11 leaves other platforms' optional binaries (@swc/core-darwin-*, …) out of the lock and `npm ci` then
  # refuses it as out of sync; `npm install` installs the same locked versions.
  (cd "$tidemark_root" && { npm ci --no-audit --no-fund >&2 2>/dev/null || npm install --no-audit --no-fund >&2; }) ||
    { echo "tidemark: installing dependencies failed" >&2; exit 1; }
fi
