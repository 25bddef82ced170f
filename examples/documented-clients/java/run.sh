#!/bin/sh
# Process runtime: compiles once (again only when a source changed), then runs the service.
# Apache HttpClient 4 comes from lib/ (jars you put there, e.g. `mvn dependency:copy-dependencies
# -DoutputDirectory=lib`) or from Debian's libhttpclient-java in /usr/share/java.
set -e
cd "$(dirname "$0")"
J=/usr/share/java
CP="lib/*:$J/httpclient.jar:$J/httpcore.jar:$J/commons-logging.jar:$J/commons-codec.jar"
if [ ! -f build/.stamp ] || [ -n "$(find src -name '*.java' -newer build/.stamp)" ]; then
  rm -rf build.tmp && mkdir build.tmp
  javac -encoding UTF-8 -nowarn -d build.tmp -cp "$CP" $(find src -name '*.java')
  touch build.tmp/.stamp && rm -rf build && mv build.tmp build
fi
# A short-lived dev JVM: C1 only and the shared class archive start it in well under a second.
exec java -XX:TieredStopAtLevel=1 -Xshare:auto -cp "build:$CP" com.demo.dyc.Main
