# Layerwise: the two commands a new user needs are `make run` and `make test`.
BUILD     ?= build
TYPE      ?= Release
JOBS      ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps configure build run test bench package install clean

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

clean:
	rm -rf $(BUILD)
