#!/usr/bin/env bash
# Creates an Nx project skeleton: tools/new-project.sh <libs|apps|test> <name> <tags,comma,separated>
# The lint/typecheck/test commands live once in nx.json targetDefaults ({projectRoot}); Nx applies a default only to
# a target the project names, so project.json lists the three names with empty bodies.
set -euo pipefail
kind=$1 name=$2 tags=$3
if [ "$kind" = test ]; then root=test; else root=$kind/$name; fi
mkdir -p "$root/src"
tagjson=$(echo "$tags" | sed 's/\([^,]*\)/"\1"/g; s/,/, /g')
ptype=library; [ "$kind" = libs ] || ptype=application
cat > "$root/project.json" <<JSON
{
  "name": "$name",
  "\$schema": "$( [ $kind = test ] && echo .. || echo ../.. )/node_modules/nx/schemas/project-schema.json",
  "sourceRoot": "$root/src",
  "projectType": "$ptype",
  "tags": [$tagjson],
  "targets": { "lint": {}, "typecheck": {}, "test": {} }
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
