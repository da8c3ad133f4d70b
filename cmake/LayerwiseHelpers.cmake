# Helpers shared by every level of the build.

include(Sanitizers)

# Warnings for our own targets only (third-party headers are system headers).
function(lw_target_defaults target)
    target_compile_options(${target} PRIVATE -Wall -Wextra)
endfunction()

# tcmalloc keeps LibTorch's large buffers instead of returning them to the kernel every step
# (glibc malloc made training 1.3 to 2.3x slower here). Sets LW_TCMALLOC_LIBRARY when found.
function(lw_find_tcmalloc)
    find_library(LW_TCMALLOC_LIBRARY NAMES tcmalloc_minimal tcmalloc
                 PATHS /usr/lib/x86_64-linux-gnu)
    if(LW_TCMALLOC_LIBRARY)
        message(STATUS "tcmalloc: ${LW_TCMALLOC_LIBRARY}")
    else()
        message(WARNING "tcmalloc not found: training will use glibc malloc (slower)")
    endif()
endfunction()

# Links tcmalloc into an executable (must be an executable: the allocator is process-wide).
# Sanitized builds keep ASan's allocator: a second malloc would hide every heap error.
function(lw_link_allocator target)
    if(LW_TCMALLOC_LIBRARY AND NOT LAYERWISE_SANITIZE AND NOT LAYERWISE_FUZZ)
        target_link_libraries(${target} PRIVATE ${LW_TCMALLOC_LIBRARY})
        # Keep the link even though no symbol is referenced directly.
        target_link_options(${target} PRIVATE -Wl,--no-as-needed ${LW_TCMALLOC_LIBRARY} -Wl,--as-needed)
    endif()
endfunction()

# lw_add_qtest(NAME <name> SOURCES <files...> LIBS <targets...> [GUI] [TIMEOUT <s>] [LABELS <l...>])
# One Qt Test executable registered with CTest. Core tests are guiless and built with
# QT_NO_KEYWORDS so that Qt's `slots` macro never meets ATen headers.
function(lw_add_qtest)
    cmake_parse_arguments(T "GUI" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
    add_executable(${T_NAME} ${T_SOURCES})
    set_target_properties(${T_NAME} PROPERTIES AUTOMOC ON)
    target_link_libraries(${T_NAME} PRIVATE Qt6::Test ${T_LIBS})
    lw_target_defaults(${T_NAME})
    lw_link_allocator(${T_NAME})
    if(NOT T_GUI)
        target_compile_definitions(${T_NAME} PRIVATE QT_NO_KEYWORDS)
    endif()
    target_compile_definitions(${T_NAME} PRIVATE
        LW_TEST_BUILD_DIR="${CMAKE_CURRENT_BINARY_DIR}"
        LW_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
        LW_CLI_PATH="$<TARGET_FILE:layerwise-cli>")
    add_test(NAME ${T_NAME} COMMAND ${T_NAME})
    if(NOT T_TIMEOUT)
        set(T_TIMEOUT 600)
    endif()
    set_tests_properties(${T_NAME} PROPERTIES TIMEOUT ${T_TIMEOUT}
        ENVIRONMENT "QT_QPA_PLATFORM=offscreen;OMP_WAIT_POLICY=PASSIVE;LAYERWISE_DB=${CMAKE_CURRENT_BINARY_DIR}/${T_NAME}.sqlite")
    if(T_LABELS)
        set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}")
    endif()
    add_dependencies(${T_NAME} layerwise-cli)
endfunction()
