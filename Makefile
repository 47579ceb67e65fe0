# The front door: `make demo` and `make test` on a fresh Debian 12 machine.
#
# Both install the Debian packages that are missing (only those, with sudo when not
# root), configure and build with CMake, and run. Everything else is in CMakeLists.txt.

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 60

# What building needs, and what testing needs on top (clang for libFuzzer).
# (cmocka too: the default build configures the tests, so `make demo` needs it.)
BUILD_PKGS = gcc make cmake pkg-config libyaml-dev libjansson-dev libpq-dev libsqlite3-dev \
             libcurl4-openssl-dev libmicrohttpd-dev librdkafka-dev libcmocka-dev
DEMO_PKGS  = $(BUILD_PKGS) sqlite3 curl
# `make package` runs dpkg-shlibdeps (dpkg-dev), which CPack drives through file(1).
PACKAGE_PKGS = $(BUILD_PKGS) dpkg-dev file
# The package and systemd-unit tests also use systemd-analyze (systemd) and strace; the
# metrics test parses /metrics with the Prometheus client's own parser.
TEST_PKGS  = $(BUILD_PKGS) clang libclang-rt-14-dev postgresql sqlite3 curl kcat \
             dpkg-dev file systemd strace python3-prometheus-client
# bench/http.sh: wrk is the load generator, nginx the reference server, curl the probe.
HTTP_BENCH_PKGS = $(BUILD_PKGS) wrk nginx curl

.PHONY: bench bench-http bench-deps-http bench-kafka chaos docs all deps demo-deps test-deps package-deps package build demo demo-file test test-asan test-tsan fuzz fuzz-configure fuzz-smoke \
        install clean help

all: build

help:
	@echo "make demo    install what is missing, build, run the flagship pipeline on one machine"
	@echo "make demo-file  the file -> topic -> file pipeline, stopped and resumed"
	@echo "make test    install what is missing, build, run every test (plain, ASan+UBSan, TSan, fuzz smoke)"
	@echo "make build   configure and build into $(BUILD)/"
	@echo "make fuzz    run each fuzz target for FUZZ_SECONDS (default 60)"
	@echo "make bench   build, then print the log's append/read rates against the disk's raw limit"
	@echo "make bench-kafka  build, then the kafka source and sink against librdkafka (mock cluster)"
	@echo "make bench-http   install wrk and nginx if missing, build, then the webhook against nginx and the http sink against libcurl"
	@echo "make chaos   the flagship chaos test at nightly size (1,000,000 events, 100 kills)"
	@echo "make docs    regenerate the option tables in docs/connectors/ from the plugins"
	@echo "make install install into PREFIX (default /usr/local)"
	@echo "make package build the Debian package into $(BUILD)/packages/ (docs/operations.md)"

# Installs the packages in $(1) that dpkg does not list as installed.
define install_missing
	@missing=$$(for p in $(1); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "spool: installing missing Debian packages:" $$missing; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null; then SUDO=sudo; \
	  else echo "spool: need root or sudo to install:" $$missing >&2; exit 1; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call install_missing,$(BUILD_PKGS))

test-deps:
	$(call install_missing,$(TEST_PKGS))

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

demo-deps:
	$(call install_missing,$(DEMO_PKGS))

# The flagship on one machine (configs/resource-events-embedded.yaml).
demo: demo-deps build
	@sh configs/demo.sh $(BUILD)

# The walking skeleton's demo: lines file -> topic -> file, stopped and resumed.
demo-file: build
	@sh configs/file-pipe-demo.sh $(BUILD)

test: test-deps build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory test-asan test-tsan fuzz-smoke

test-asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSPOOL_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

# The threaded parts (log group commit, worker) under ThreadSanitizer.
test-tsan:
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSPOOL_TSAN=ON
	cmake --build $(TSAN_BUILD) -j $(JOBS)
	cd $(TSAN_BUILD) && ctest --output-on-failure -j $(JOBS) -L threads

fuzz-configure:
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSPOOL_FUZZ=ON

fuzz-smoke: fuzz-configure
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_targets
	sh tests/fuzz/run.sh $(FUZZ_BUILD) 10

fuzz: test-deps fuzz-configure
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_targets
	sh tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The log's benchmark: prints figures (docs/performance.md), asserts nothing.
bench: build
	cd $(BUILD) && ./bin/bench_log .
	sh bench/pipeline.sh $(BUILD)
	$(BUILD)/bin/bench_worker $(BUILD)/bin/spool .

# The kafka source and sink beside librdkafka's producer and consumer, on the mock
# cluster (docs/performance.md). KAFKA_RECORDS and KAFKA_PARTITIONS change the load.
# Then bench/scale.sh: the flagship's core on the built-in log, on the kafka backend with
# one worker and with two (SCALE_EVENTS events).
KAFKA_RECORDS    ?= 200000
KAFKA_PARTITIONS ?= 16
SCALE_EVENTS     ?= 100000
bench-kafka: build
	$(BUILD)/bin/bench_kafka $(BUILD)/bin/spool $(KAFKA_RECORDS) $(KAFKA_PARTITIONS)
	sh bench/scale.sh $(BUILD) $(SCALE_EVENTS)

# The webhook source beside nginx and the http sink beside raw libcurl (docs/performance.md).
# HTTP_SECONDS is the length of each wrk run.
HTTP_SECONDS ?= 5
bench-deps-http:
	$(call install_missing,$(HTTP_BENCH_PKGS))

bench-http: bench-deps-http build
	sh bench/http.sh $(BUILD) $(HTTP_SECONDS)

# The flagship chaos test at nightly size: 1,000,000 events, 100 kills.
chaos: test-deps build
	FLAGSHIP_EVENTS=1000000 FLAGSHIP_KILLS=100 FLAGSHIP_HTTP=10000 \
	  sh tests/integration/flagship_chaos.sh $(BUILD)/bin/spool .

# Regenerates the option tables in docs/connectors/ from the plugins' declarations.
docs: build
	sh tests/integration/docs.sh $(BUILD)/bin/spool . --write

package-deps:
	$(call install_missing,$(PACKAGE_PKGS))

# The Debian package: binary, plugins, SDK, systemd unit, /etc/spool (cmake/SpoolPackage.cmake).
package: package-deps build
	cd $(BUILD) && cpack --config CPackConfig.cmake -B packages
	@ls $(BUILD)/packages/*.deb

install: build
	cmake --install $(BUILD) $(if $(PREFIX),--prefix $(PREFIX))

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
