#!/bin/sh
# Regenerates the committed svm-train fixture (Debian libsvm-tools 3.24): fixture_train.txt is made by
# the Go test helper synth (go test -run TestWriteFixtureData -args -write-fixture), then
#   svm-train -s 3 -t 2 -c 16 -g 0.125 -p 0.0625 -q fixture_train.txt fixture.model
#   svm-train -s 3 -t 2 -c 16 -g 0.125 -p 0.0625 -v 5 -q fixture_train.txt   (MSE into fixture_cv.txt)
# Parameters are float32-exact because Debian's svm-train reads options with strtof.
set -e
cd "$(dirname "$0")/.."
go test -run TestWriteFixtureData -args -write-fixture >/dev/null
cd testdata
svm-train -s 3 -t 2 -c 16 -g 0.125 -p 0.0625 -q fixture_train.txt fixture.model
svm-train -s 3 -t 2 -c 16 -g 0.125 -p 0.0625 -v 5 -q fixture_train.txt | sed -n 's/Cross Validation Mean squared error = //p' > fixture_cv.txt
