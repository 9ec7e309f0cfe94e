#!/usr/bin/env bash
# Fetches the Apache Kafka broker (KRaft) and its runtime classpath from Maven Central into
# dist/libs, using Maven and pom.xml beside this script. Idempotent: does nothing when dist/libs
# already holds the pinned version. Needs Java 17+ and Maven 3.
#
#   infra/kafka/fetch.sh           fetch if missing
#   infra/kafka/fetch.sh --force   fetch again
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")"
libs="$here/dist/libs"
stamp="$here/dist/VERSION"

if [[ "${1:-}" != "--force" && -f "$stamp" && "$(cat "$stamp")" == "$version" && -f "$libs/kafka_2.13-$version.jar" ]]; then
  echo "kafka $version: already in ${libs#"$PWD/"} ($(ls "$libs" | wc -l) jars)"
  exit 0
fi

command -v mvn >/dev/null || { echo "error: mvn not found (install Maven 3: apt-get install -y maven)" >&2; exit 1; }
command -v java >/dev/null || { echo "error: java not found (Kafka $version needs Java 17+)" >&2; exit 1; }

echo "kafka $version: resolving the broker's runtime classpath from Maven Central ..."
rm -rf "$here/dist"
mkdir -p "$libs"
# -B: plain log; each "Copying <jar>" line is one step of progress.
mvn -B -ntp -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies \
  -DoutputDirectory="$libs" -DincludeScope=runtime -Dmdep.overWriteIfNewer=true \
  | grep -E 'Copying|BUILD|ERROR' | sed -e 's/^\[INFO\] //' -e "s: to $libs/.*::"
[[ ${PIPESTATUS[0]} -eq 0 ]] || { echo "error: mvn dependency:copy-dependencies failed (see above)" >&2; exit 1; }
[[ -f "$libs/kafka_2.13-$version.jar" ]] || { echo "error: kafka_2.13-$version.jar missing after fetch" >&2; exit 1; }
echo "$version" > "$stamp"
echo "kafka $version: $(ls "$libs" | wc -l) jars in ${libs#"$PWD/"} ($(du -sh "$libs" | cut -f1))"
