# Sanitized builds, each in its own build folder (included by LayerwiseHelpers.cmake):
#   LAYERWISE_SANITIZE  make test-asan: AddressSanitizer + UBSan on every target of this project
#                       (GCC or clang); the whole CTest suite runs on it.
#   LAYERWISE_FUZZ      make fuzz: the same plus libFuzzer's coverage instrumentation (clang++
#                       only); tests/fuzz builds libFuzzer binaries instead of replay drivers.
# Third-party libraries (LibTorch, Qt, SQLite, ...) stay uninstrumented. A UBSan finding stops the
# process (no recovery), so a test or a fuzzer sees it as a failure, not as a line of output.
if(LAYERWISE_FUZZ AND NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "LAYERWISE_FUZZ needs clang++ (libFuzzer): configure with "
                        "-DCMAKE_CXX_COMPILER=clang++-14, or run `make fuzz`")
endif()
if(LAYERWISE_SANITIZE OR LAYERWISE_FUZZ)
    set(LW_SANITIZER_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined)
    add_compile_options(${LW_SANITIZER_FLAGS} -fno-omit-frame-pointer -g1)
    add_link_options(${LW_SANITIZER_FLAGS})
endif()
if(LAYERWISE_FUZZ)
    add_compile_options(-fsanitize=fuzzer-no-link)
endif()
# clang with libstdc++ 12 cannot compile LibTorch 1.13's headers as C++20 (std::vector is
# constexpr there and ATen instantiates it on the incomplete c10::IValue); C++17 reads them.
if(LAYERWISE_FUZZ)
    set(CMAKE_CXX_STANDARD 17)
endif()
