#!/usr/bin/env bash
# Builds the self-contained distribution: a jlink runtime with only the agent's modules, the agent's
# jar, its JVM options and a launcher, as a directory (copied into the container image) and a
# .tar.gz (for hosts without JDK 25). Called by Maven in the package phase of deploy/.
set -euo pipefail
java_home=$1 modules=$2 jar=$3 out=$4 archive=$5 version=$6
src=$(cd "$(dirname "$0")" && pwd)

[ -f "$jar" ] || { echo "dist: $jar missing: package the agent first (mvn package)" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$(dirname "$archive")"
# No debug symbols, man pages or headers: none is used at run time, and they are half the size.
"$java_home/bin/jlink" --add-modules "$modules" --output "$out/runtime" \
  --strip-debug --no-man-pages --no-header-files --compress=zip-6
cp "$jar" "$out/lib/periscope.jar"
cp "$src/jvm.options" "$out/lib/jvm.options"
cp "$src/periscope" "$out/bin/periscope"
chmod 755 "$out/bin/periscope"
echo "$version" > "$out/VERSION"
tar -czf "$archive" -C "$(dirname "$out")" "$(basename "$out")"
