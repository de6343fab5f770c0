#!/usr/bin/env bash
# Creates an Nx project skeleton: tools/new-project.sh <libs|apps|test> <name> <tags,comma,separated>
set -euo pipefail
kind=$1 name=$2 tags=$3
if [ "$kind" = test ]; then root=test; else root=$kind/$name; fi
mkdir -p "$root/src"
tagjson=$(echo "$tags" | sed 's/\([^,]*\)/"\1"/g')
ptype=library; [ "$kind" = libs ] || ptype=application
cat > "$root/project.json" <<JSON
{
  "name": "$name",
  "\$schema": "$( [ $kind = test ] && echo .. || echo ../.. )/node_modules/nx/schemas/project-schema.json",
  "sourceRoot": "$root/src",
  "projectType": "$ptype",
  "tags": [$tagjson],
  "targets": {
    "lint": { "command": "eslint $root --max-warnings 0" },
    "typecheck": { "command": "tsc -p $root/tsconfig.json" },
    "test": { "command": "node tools/run-tests.mjs $root" }
  }
}
JSON
cat > "$root/tsconfig.json" <<JSON
{
  "extends": "$( [ $kind = test ] && echo .. || echo ../.. )/tsconfig.base.json",
  "compilerOptions": { "noEmit": true, "rootDir": "$( [ $kind = test ] && echo .. || echo ../.. )" },
  "include": ["**/*.ts"]
}
JSON
[ -f "$root/src/index.ts" ] || [ "$kind" != libs ] || echo "export {};" > "$root/src/index.ts"
