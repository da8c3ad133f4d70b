# Layerwise: the two commands a new user needs are `make run` and `make test`.
BUILD     ?= build
TYPE      ?= Release
JOBS      ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps configure build run test bench package install clean fuzz test-asan

# Sanitized builds, each in its own folder (cmake/Sanitizers.cmake).
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_CXX     ?= clang++-14
ASAN_BUILD   ?= build-asan
# LibTorch and OpenBLAS keep process-lifetime allocations (thread pools, registries) that
# LeakSanitizer reports at exit: tests/fuzz/lsan.supp names them; leaks of our own still fail.
SANITIZER_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/fuzz/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

all: build

deps:
	@packaging/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(TYPE) $(CMAKE_ARGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j$(JOBS)

# Opens the GUI on the default preset and the Fashion-MNIST set from Debian.
run: build
	@if [ -x $(BUILD)/app/gui/layerwise ]; then $(BUILD)/app/gui/layerwise; \
	else $(BUILD)/app/cli/layerwise-cli doctor; fi

test: build
	@cd $(BUILD) && ctest --output-on-failure --timeout 1500

bench: build
	@if [ -x bench/run.sh ]; then bench/run.sh $(BUILD); else echo "no benchmarks yet"; fi

package: build
	@cd $(BUILD) && cpack -G DEB

install: build
	@cmake --install $(BUILD) $(if $(DESTDIR),--prefix /usr,)

# Each libFuzzer target (tests/fuzz) for FUZZ_SECONDS seconds: executions, coverage, crashes.
fuzz: deps
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=$(FUZZ_CXX) \
		-DLAYERWISE_FUZZ=ON -DLAYERWISE_GUI=OFF -DLAYERWISE_TESTS=OFF -DLAYERWISE_BENCH=OFF \
		$(CMAKE_ARGS) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS) --target lw_fuzzers
	@$(SANITIZER_ENV) tests/fuzz/run-fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The whole CTest suite on an AddressSanitizer + UBSan build.
test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Release -DLAYERWISE_SANITIZE=ON \
		$(CMAKE_ARGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	@cd $(ASAN_BUILD) && $(SANITIZER_ENV) ctest --output-on-failure --timeout 3000

clean:
	rm -rf $(BUILD)
